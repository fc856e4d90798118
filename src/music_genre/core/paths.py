"""Where the pipeline's files live: each path named once.

dvc.yaml stays the pipeline's truth: its commands pass these paths to the stage scripts, whose
arguments default to them (tests/project/test_paths.py checks that the two agree). The command
line, the server, the tuner, the sweep and the PR report read them from here.
"""

from __future__ import annotations

from typing import Final

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
# evaluate
EVALUATE_METRICS_DIR: Final = "metrics/evaluate"
EVALUATE_METRICS: Final = f"{EVALUATE_METRICS_DIR}/metrics.json"
EVALUATE_PLOTS_DIR: Final = "plots/evaluate"
ROC_CURVES: Final = f"{EVALUATE_PLOTS_DIR}/custom/roc.json"
PRECISION_RECALL_CURVES: Final = f"{EVALUATE_PLOTS_DIR}/custom/precision_recall.json"
PER_GENRE: Final = f"{EVALUATE_PLOTS_DIR}/custom/per_genre.json"
TEST_CONFUSION: Final = f"{EVALUATE_PLOTS_DIR}/sklearn/confusion_matrix.json"
# eda
EDA_DIR: Final = "plots/eda"
# music-genre tune: one folder per study (its summary, trials and plots)
TUNE_SUMMARIES: Final = "plots/tune"
