"""Where the pipeline's files live: each path named once.

dvc.yaml stays the pipeline's truth: its commands pass these paths to the stage scripts, whose
arguments default to them (tests/project/test_paths.py checks that the two agree). The command
line, the server, the tuner, the sweep and the PR report read them from here.
"""

from __future__ import annotations

from typing import Final

# The data contract: the table's columns, classes, text feature and grouping
CONTRACT: Final = "contract.yaml"
# get_data, preprocess
RAW_TABLE: Final = "data/raw/songs.parquet"
PREPARED_TABLE: Final = "data/prepared/songs.parquet"
# check_data: the drift reference (music-genre reference-profile writes it) and the check results
REFERENCE_PROFILE: Final = "data/reference_profile.json"
CHECK_REPORT: Final = "metrics/check_data.json"
# segregate
TRAIN_SPLIT: Final = "data/split/train.parquet"
TEST_SPLIT: Final = "data/split/test.parquet"
SPLIT_METRICS: Final = "metrics/split.json"
# train: the model, its card beside it (modeling.store), dvclive's metrics and plots
MODEL: Final = "models/model.joblib"
MODEL_CARD: Final = "models/model.json"
TRAIN_METRICS_DIR: Final = "metrics/train"
TRAIN_METRICS: Final = f"{TRAIN_METRICS_DIR}/metrics.json"
TRAIN_PLOTS_DIR: Final = "plots/train"
# package: the model as an MLflow Model directory (MLmodel, artifacts, code, environment)
MLFLOW_MODEL: Final = "models/mlflow"
# evaluate
EVALUATE_METRICS_DIR: Final = "metrics/evaluate"
EVALUATE_METRICS: Final = f"{EVALUATE_METRICS_DIR}/metrics.json"
EVALUATE_PLOTS_DIR: Final = "plots/evaluate"
ROC_CURVES: Final = f"{EVALUATE_PLOTS_DIR}/custom/roc.json"
PRECISION_RECALL_CURVES: Final = f"{EVALUATE_PLOTS_DIR}/custom/precision_recall.json"
# Precision, recall, F1 and counts of each class, named after the contract's target
# (per_class_plot): also the server's reference mix of predicted classes.
PER_CLASS_PLOT: Final = f"{EVALUATE_PLOTS_DIR}/custom/per_{{target}}.json"
TEST_CONFUSION: Final = f"{EVALUATE_PLOTS_DIR}/sklearn/confusion_matrix.json"
# eda
EDA_DIR: Final = "plots/eda"
# music-genre tune: one folder per study (its summary, trials and plots)
TUNE_SUMMARIES: Final = "plots/tune"


def per_class_plot(target: str) -> str:
    """evaluate's per-class scores for the contract's `target` (PER_CLASS_PLOT)."""
    return PER_CLASS_PLOT.format(target=target)
