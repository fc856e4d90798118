"""Classification metrics, computed the same way for validation (train) and test (evaluate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def classification_metrics(
    y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """roc_auc is macro one-vs-one, as in the original boilerplate."""
    from sklearn import metrics

    y_pred = [classes[index] for index in proba.argmax(axis=1)]
    return {
        "roc_auc": float(metrics.roc_auc_score(
            y_true, proba, multi_class="ovo", average="macro", labels=list(classes))),
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "f1_macro": float(metrics.f1_score(y_true, y_pred, average="macro",
                                           labels=list(classes), zero_division=0)),
        "log_loss": float(metrics.log_loss(y_true, proba, labels=list(classes))),
    }


def per_class_scores(
    y_true: pd.Series, y_pred: Sequence[str], classes: Sequence[str]
) -> list[dict[str, Any]]:
    from sklearn import metrics

    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0
    )
    return [
        {"genre": genre, "precision": float(p), "recall": float(r), "f1": float(f),
         "support": int(n)}
        for genre, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
    ]
