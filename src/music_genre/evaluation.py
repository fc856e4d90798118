"""What train (on validation) and evaluate (on test) log through dvclive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from music_genre.metrics import classification_metrics, per_class_scores
from music_genre.tracking import slug

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from dvclive import Live


def predicted_labels(proba: np.ndarray, classes: Sequence[str]) -> list[str]:
    return [classes[index] for index in proba.argmax(axis=1)]


def log_scores(
    live: Live, y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """Log the summary metrics and the confusion matrix; return the metrics."""
    scores = classification_metrics(y_true, proba, classes)
    for name, value in scores.items():
        live.log_metric(name, value, plot=False)
    live.log_sklearn_plot("confusion_matrix", y_true.to_numpy(), predicted_labels(proba, classes),
                          name="confusion_matrix")
    return scores


def log_per_genre_curves(
    live: Live, y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]
) -> None:
    """One-vs-rest ROC and precision-recall, one file per genre (dvclive's are binary only)."""
    labels = y_true.to_numpy()
    for index, genre in enumerate(classes):
        is_genre = labels == genre
        live.log_sklearn_plot("roc", is_genre, proba[:, index], name=f"roc/{slug(genre)}",
                              drop_intermediate=True)
        live.log_sklearn_plot("precision_recall", is_genre, proba[:, index],
                              name=f"precision_recall/{slug(genre)}", drop_intermediate=True)
    live.log_plot("per_genre", per_class_scores(y_true, predicted_labels(proba, classes), classes),
                  x="f1", y="genre", template="bar_horizontal_sorted")


def log_feature_importances(live: Live, importances: Sequence[tuple[str, float]]) -> None:
    from music_genre.figures import feature_importance_figure

    rows = [{"feature": name, "importance": value} for name, value in importances]
    live.log_plot("feature_importance", rows, x="importance", y="feature",
                  template="bar_horizontal_sorted")
    live.log_image("feature_importance.png", feature_importance_figure(importances))


def log_confusion_image(
    live: Live, y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]
) -> None:
    from music_genre.figures import confusion_matrix_figure

    figure = confusion_matrix_figure(y_true, predicted_labels(proba, classes), classes)
    live.log_image("confusion_matrix.png", figure)
