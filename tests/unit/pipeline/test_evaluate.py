"""pipeline.evaluate: the stage's step, scoring the session's small model on a test table."""

import json

import pytest

from music_genre.data.synthetic import generate
from music_genre.modeling.store import load_model
from music_genre.pipeline.evaluate import evaluate
from music_genre.pipeline.preprocess import preprocess


@pytest.fixture(scope="module")
def evaluated(small_model, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("evaluate")
    test_path = workdir / "test.parquet"
    preprocess(generate(1500, seed=23)).to_parquet(test_path, index=False)
    scores = evaluate(
        str(small_model),
        str(test_path),
        str(workdir / "metrics"),
        str(workdir / "plots"),
        seed=0,
        n_threads=1,
    )
    return workdir, scores


def test_scores_are_written_as_dvc_metrics(evaluated):
    workdir, scores = evaluated
    written = json.loads((workdir / "metrics" / "metrics.json").read_text())
    assert written == pytest.approx(scores)
    assert set(scores) >= {"roc_auc", "accuracy", "f1_macro", "log_loss"}
    assert 0.5 < scores["roc_auc"] <= 1


def test_per_genre_curves_scores_and_importances(evaluated, small_model):
    workdir, _ = evaluated
    _, card = load_model(small_model)
    custom = workdir / "plots" / "custom"
    roc = json.loads((custom / "roc.json").read_text())
    assert {point["genre"] for point in roc} == set(card["classes"])
    assert all(0 <= point["fpr"] <= 1 and 0 <= point["tpr"] <= 1 for point in roc)
    per_genre = json.loads((custom / "per_genre.json").read_text())
    assert sorted(row["genre"] for row in per_genre) == sorted(card["classes"])
    importances = json.loads((custom / "feature_importance.json").read_text())
    shares = [row["importance"] for row in importances]
    assert sum(shares) == pytest.approx(1.0)
    for image in ("confusion_matrix.png", "feature_importance.png"):
        assert (workdir / "plots" / "images" / image).read_bytes()[:4] == b"\x89PNG"


def test_the_same_model_and_table_give_the_same_metrics_file(evaluated, small_model, tmp_path):
    workdir, _ = evaluated
    evaluate(
        str(small_model),
        str(workdir / "test.parquet"),
        str(tmp_path / "metrics"),
        str(tmp_path / "plots"),
        seed=0,
        n_threads=2,
    )
    first = (workdir / "metrics" / "metrics.json").read_bytes()
    assert (tmp_path / "metrics" / "metrics.json").read_bytes() == first
