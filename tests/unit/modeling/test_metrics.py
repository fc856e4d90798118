import numpy as np
import pandas as pd
import pytest

from music_genre.modeling.metrics import (
    CURVE_POINTS,
    classification_metrics,
    per_class_scores,
    precision_recall_points,
    roc_points,
)

CLASSES = ["a", "b", "c"]


def test_perfect_and_uninformative_predictions():
    y = pd.Series(["a", "b", "c", "a", "b", "c"])
    perfect = np.eye(3)[[0, 1, 2, 0, 1, 2]] * 0.98 + 0.02 / 3
    scores = classification_metrics(y, perfect, CLASSES)
    assert scores["roc_auc"] == 1.0 and scores["accuracy"] == 1.0 and scores["f1_macro"] == 1.0
    assert scores["log_loss"] == pytest.approx(-np.log(0.98 + 0.02 / 3))
    flat = np.full((6, 3), 1 / 3)
    assert classification_metrics(y, flat, CLASSES)["roc_auc"] == 0.5


def test_per_class_scores_are_keyed_by_the_target():
    rows = per_class_scores(pd.Series(["a", "a", "b"]), ["a", "b", "b"], CLASSES, "species")
    assert [row["species"] for row in rows] == CLASSES
    by_class = {row["species"]: row for row in rows}
    assert by_class["a"]["precision"] == 1.0 and by_class["a"]["recall"] == 0.5
    assert by_class["b"]["support"] == 1 and by_class["b"]["predicted"] == 2
    assert by_class["c"]["support"] == 0 and by_class["c"]["f1"] == 0.0


def test_curves_are_sampled_on_a_fixed_grid():
    rng = np.random.default_rng(0)
    labels = rng.random(500) < 0.3
    scores = labels * 0.4 + rng.random(500)
    roc = roc_points(labels, scores)
    assert len(roc) == CURVE_POINTS
    assert roc[0] == {"fpr": 0.0, "tpr": 0.0} and roc[-1] == {"fpr": 1.0, "tpr": 1.0}
    tprs = [point["tpr"] for point in roc]
    assert tprs == sorted(tprs)
    pr = precision_recall_points(labels, scores)
    precisions = [point["precision"] for point in pr]
    assert len(pr) == CURVE_POINTS and precisions == sorted(precisions, reverse=True)
    assert labels.mean() <= pr[-1]["precision"] < pr[0]["precision"]


def test_metric_names_are_what_classification_metrics_returns():
    from music_genre.modeling.metrics import LOWER_IS_BETTER, METRIC_NAMES, classification_metrics

    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    scores = classification_metrics(pd.Series(list(CLASSES)), proba, CLASSES)
    assert tuple(scores) == METRIC_NAMES
    assert set(METRIC_NAMES) >= LOWER_IS_BETTER
