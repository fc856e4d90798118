"""pipeline.train: the stage's step, on the session's small model (conftest.small_model)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from music_genre.core.fileio import sha256_file
from music_genre.core.params import load_params
from music_genre.data.contract import Contract, load_contract
from music_genre.modeling.store import load_model
from support.models import SMALL_MODEL_ARGUMENTS
from support.project import PROJECT_ROOT


def _curve(plots_dir, name):
    path = plots_dir / "metrics" / name / "multi_logloss.tsv"
    with path.open() as handle:
        return [float(row["multi_logloss"]) for row in csv.DictReader(handle, delimiter="\t")]


def test_the_card_records_what_was_fitted_on_what(small_model):
    pipeline, card = load_model(small_model)
    train_file = small_model.parent / "train.parquet"
    assert card["model"] == load_params(PROJECT_ROOT / "params.yaml").train.model
    assert card["estimator"] == type(pipeline.named_steps["classifier"]).__name__
    contract = load_contract(PROJECT_ROOT / "contract.yaml")
    assert card["input_columns"] == list(contract.model_input_columns)
    # The model carries its contract, columns in their order (the card's keys are sorted).
    carried = Contract.model_validate(card["contract"])
    assert carried == contract and carried.card() == contract.card()
    assert carried.model_input_columns == contract.model_input_columns
    assert card["classes"] == [str(name) for name in pipeline.classes_]
    data = card["training_data"]
    assert data["sha256"] == sha256_file(train_file)
    assert data["validation_split"]["validation_rows_whose_track_is_also_in_rest"] == 0
    assert data["fit_rows"] == data["validation_split"]["rows"]["rest"]
    assert card["model_sha256"] == sha256_file(small_model)


def test_metrics_params_and_one_curve_point_per_boosting_round(small_model):
    workdir = small_model.parent
    metrics = json.loads((workdir / "metrics" / "metrics.json").read_text())
    _, card = load_model(small_model)
    assert metrics["boosting_rounds"] == card["boosting_rounds"] > 0
    for name in ("roc_auc", "accuracy", "f1_macro"):
        assert 0 < metrics[name] <= 1
        assert metrics[name] == pytest.approx(card["validation_metrics"][name])
    # Rounds are counted from 1; the curves run to the last round fitted (early stopping may
    # keep an earlier one).
    for name in ("training", "validation"):
        curve = _curve(workdir / "plots", name)
        assert (
            card["boosting_rounds"]
            <= len(curve)
            <= SMALL_MODEL_ARGUMENTS["lightgbm"]["n_estimators"]
        )
    logged = yaml.safe_load((workdir / "metrics" / "params.yaml").read_text())
    assert logged["train"]["model"] == card["model"]


TRAIN_IN_A_FRESH_PROCESS = """
import sys
from support.models import small_model_params
from support.project import PROJECT_ROOT
from music_genre.data.contract import load_contract
from music_genre.pipeline.train import train
params = small_model_params()
threads = params.train.model_copy(update={"n_threads": int(sys.argv[2])})
params = params.model_copy(update={"train": threads})
contract = load_contract(PROJECT_ROOT / "contract.yaml")
output = sys.argv[3]
train(params, sys.argv[1], output, output + ".metrics", output + ".plots", contract=contract)
"""


def test_the_same_params_and_data_give_the_same_model_bytes_on_any_thread_count(
    small_model, tmp_path
):
    """As dvc runs the stage: a fresh process each time, here with 1 and with 2 threads."""
    hashes = []
    for threads in (1, 2):
        output = tmp_path / f"threads{threads}" / "model.joblib"
        subprocess.run(
            [
                sys.executable,
                "-c",
                TRAIN_IN_A_FRESH_PROCESS,
                str(small_model.parent / "train.parquet"),
                str(threads),
                str(output),
            ],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            check=True,
            capture_output=True,
            timeout=300,
        )
        hashes.append(sha256_file(output))
    assert hashes[0] == hashes[1]


def _train_with(small_model, tmp_path, **train_update):
    from music_genre.pipeline.train import train
    from support.models import small_model_params

    params = small_model_params()
    params = params.model_copy(update={"train": params.train.model_copy(update=train_update)})
    output = tmp_path / "model.joblib"
    train(
        params,
        str(small_model.parent / "train.parquet"),
        str(output),
        str(tmp_path / "metrics"),
        str(tmp_path / "plots"),
        contract=load_contract(PROJECT_ROOT / "contract.yaml"),
    )
    return (output, *load_model(output))


@pytest.mark.parametrize("rule", ["same_rounds", "scaled_rounds"])
def test_the_refit_sees_the_whole_split_and_keeps_the_validation_scores_honest(
    small_model, tmp_path, rule
):
    import pandas as pd

    from music_genre.modeling.build import NUMERIC_BLOCK

    _, before, early = _train_with(small_model, tmp_path / "early", refit="none")
    path, after, card = _train_with(small_model, tmp_path, refit=rule)
    data = card["training_data"]
    whole = data["fit_rows"] + data["validation_rows"]
    chosen = early["boosting_rounds"]
    rounds = chosen if rule == "same_rounds" else round(chosen * whole / data["fit_rows"])
    assert card["refit"] == {
        "rule": rule,
        "rows": whole,
        "rounds": rounds,
        "validation_rounds": chosen,
    }
    booster = after.named_steps["classifier"].booster_
    assert booster.num_trees() == rounds * len(card["classes"])
    assert card["boosting_rounds"] == rounds
    # The validation scores are those of the early-stopped fit, before its rows were fitted.
    assert card["validation_metrics"] == early["validation_metrics"]
    metrics = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert metrics["roc_auc"] == early["validation_metrics"]["roc_auc"]
    assert card["params"]["train"]["refit"] == rule and "refit" not in early["params"]["train"]
    # Every train row was fitted: the imputer's medians are the whole split's.
    train_rows = pd.read_parquet(small_model.parent / "train.parquet")
    numeric = after.named_steps["preprocessor"].named_transformers_[NUMERIC_BLOCK]
    columns = list(load_contract(PROJECT_ROOT / "contract.yaml").numeric_features)
    assert list(numeric[0].statistics_) == pytest.approx(list(train_rows[columns].median()))
    assert list(numeric[0].statistics_) != pytest.approx(
        list(before.named_steps["preprocessor"].named_transformers_[NUMERIC_BLOCK][0].statistics_)
    )
    assert card["model_sha256"] == sha256_file(path) != early["model_sha256"]
