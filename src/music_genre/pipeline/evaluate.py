"""evaluate: score the saved model on the test split; log metrics, curves and pictures."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from music_genre.core.fileio import read_parquet
from music_genre.data.features import TARGET
from music_genre.modeling.metrics import (
    per_class_scores,
    precision_recall_points,
    predicted_labels,
    roc_points,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from dvclive import Live

# .dvc/plots/per_genre_curves.json: one line per genre, revisions told apart by dash style.
CURVES_TEMPLATE = "per_genre_curves"

log = logging.getLogger(__name__)


def evaluate(
    model_path: str,
    test_path: str,
    metrics_dir: str,
    plots_dir: str,
    *,
    seed: int,
    n_threads: int = 1,
) -> dict[str, float]:
    """Score the model on the test split with at most `n_threads` threads (0: every core)."""
    from music_genre.modeling.importances import feature_importances, permutation_importances
    from music_genre.modeling.metrics import classification_metrics
    from music_genre.modeling.store import load_model
    from music_genre.modeling.threads import limited_threads
    from music_genre.modeling.tracking import StageLive, format_scores, log_confusion, log_scores

    pipeline, card = load_model(model_path)
    table = read_parquet(test_path, columns=[*card["input_columns"], TARGET])
    classes = card["classes"]
    with limited_threads(n_threads):
        proba = pipeline.predict_proba(table[card["input_columns"]])

    live = StageLive(metrics_dir, plots_dir)
    scores = classification_metrics(table[TARGET], proba, classes)
    log_scores(live, scores)
    log_confusion(live, table[TARGET], proba, classes)
    log_per_genre_curves(live, table[TARGET], proba, classes)
    log_confusion_image(live, table[TARGET], proba, classes)
    own = feature_importances(pipeline)
    if own is not None:
        importances, measure = own
    else:
        # Only for a model with no importances of its own: it costs a prediction of the
        # sampled rows per column and repeat.
        with limited_threads(n_threads):
            importances = permutation_importances(
                pipeline, table[card["input_columns"]], table[TARGET], seed
            )
        measure = "mean drop in accuracy when the column is shuffled (test split)"
    log_feature_importances(live, importances, measure)
    live.end()
    log.info("test: %s", format_scores(scores))
    return scores


def log_per_genre_curves(
    live: Live, y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]
) -> None:
    """One-vs-rest ROC and precision-recall curves of every genre, one file for each kind.

    dvclive's own ROC/PR plots are binary and keep every threshold (megabytes per genre for a
    forest); these are sampled on a fixed grid so they stay small enough for git.
    """
    labels = y_true.to_numpy()
    roc, precision_recall = [], []
    for index, genre in enumerate(classes):
        is_genre = labels == genre
        roc += [{"genre": genre, **point} for point in roc_points(is_genre, proba[:, index])]
        precision_recall += [
            {"genre": genre, **point}
            for point in precision_recall_points(is_genre, proba[:, index])
        ]
    live.log_plot("roc", roc, x="fpr", y="tpr", template=CURVES_TEMPLATE)
    live.log_plot(
        "precision_recall", precision_recall, x="recall", y="precision", template=CURVES_TEMPLATE
    )
    live.log_plot(
        "per_genre",
        per_class_scores(y_true, predicted_labels(proba, classes), classes),
        x="f1",
        y="genre",
        template="bar_horizontal_sorted",
    )


def log_feature_importances(
    live: Live, importances: Sequence[tuple[str, float]], measure: str
) -> None:
    from music_genre.modeling.figures import feature_importance_figure

    rows = [{"feature": name, "importance": value} for name, value in importances]
    live.log_plot(
        "feature_importance", rows, x="importance", y="feature", template="bar_horizontal_sorted"
    )
    live.log_image("feature_importance.png", feature_importance_figure(importances, measure))


def log_confusion_image(
    live: Live, y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]
) -> None:
    from music_genre.modeling.figures import confusion_matrix_figure

    figure = confusion_matrix_figure(y_true, predicted_labels(proba, classes), classes)
    live.log_image("confusion_matrix.png", figure)
