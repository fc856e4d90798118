"""Classification metrics, computed the same way for validation (train) and test (evaluate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


# The summary metrics classification_metrics returns, and those where lower is better.
METRIC_NAMES = ("roc_auc", "accuracy", "f1_macro", "log_loss")
LOWER_IS_BETTER = frozenset({"log_loss"})


def predicted_labels(proba: np.ndarray, classes: Sequence[str]) -> list[str]:
    """The most probable class of each row (what the estimators' predict returns)."""
    return [classes[index] for index in proba.argmax(axis=1)]


def classification_metrics(
    y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """roc_auc is macro one-vs-one, as in the original boilerplate."""
    from sklearn import metrics

    y_pred = predicted_labels(proba, classes)
    return {
        "roc_auc": float(
            metrics.roc_auc_score(
                y_true, proba, multi_class="ovo", average="macro", labels=list(classes)
            )
        ),
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "f1_macro": float(
            metrics.f1_score(y_true, y_pred, average="macro", labels=list(classes), zero_division=0)
        ),
        "log_loss": float(metrics.log_loss(y_true, proba, labels=list(classes))),
    }


def per_class_scores(
    y_true: pd.Series, y_pred: Sequence[str], classes: Sequence[str], key: str
) -> list[dict[str, Any]]:
    """Precision, recall, F1, support (true rows) and predicted rows of each class, the class
    under `key` (the contract's target).

    The support and predicted counts are the class mixes of the labels and of the predictions;
    the server compares live predictions with the latter (serving.monitoring)."""
    from collections import Counter

    from sklearn import metrics

    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0
    )
    predicted = Counter(y_pred)
    return [
        {
            key: label,
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(n),
            "predicted": predicted[label],
        }
        for label, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
    ]


CURVE_POINTS = 101


def roc_points(is_class: np.ndarray, scores: np.ndarray) -> list[dict[str, float]]:
    """One-vs-rest ROC sampled on a fixed grid of false-positive rates (small, diffable)."""
    import numpy as np
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(is_class, scores)
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    sampled = np.interp(grid, fpr, tpr)
    sampled[0] = 0.0
    return [
        {"fpr": round(float(x), 6), "tpr": round(float(y), 6)}
        for x, y in zip(grid, sampled, strict=True)
    ]


def precision_recall_points(is_class: np.ndarray, scores: np.ndarray) -> list[dict[str, float]]:
    """Interpolated precision (best precision at recall >= r) on a fixed grid of recalls."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(is_class, scores)
    order = np.argsort(recall, kind="stable")
    recall, precision = recall[order], precision[order]
    best_from_here = np.maximum.accumulate(precision[::-1])[::-1]
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    at = np.minimum(np.searchsorted(recall, grid, side="left"), len(recall) - 1)
    return [
        {"recall": round(float(r), 6), "precision": round(float(p), 6)}
        for r, p in zip(grid, best_from_here[at], strict=True)
    ]
