"""dvclive, as used inside DVC stages: metrics and plots go where dvc.yaml declares them.

dvc.yaml declares every metric and plot by hand, so dvclive must neither rewrite dvc.yaml nor
save experiments of its own; and its plots go under the top-level plots/ folder rather than
beside the metrics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dvclive import Live

from music_genre.metrics import classification_metrics, predicted_labels

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class StageLive(Live):
    """A dvclive logger whose metrics live in `metrics_dir` and plots in `plots_dir`."""

    def __init__(
        self, metrics_dir: str | os.PathLike[str], plots_dir: str | os.PathLike[str]
    ) -> None:
        self._stage_plots_dir = str(plots_dir)
        super().__init__(dir=str(metrics_dir), dvcyaml=False, save_dvc_exp=False, report=None)

    @property
    def plots_dir(self) -> str:
        return self._stage_plots_dir


def log_scores(
    live: Live, y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """Log the summary metrics and the confusion matrix; return the metrics."""
    scores = classification_metrics(y_true, proba, classes)
    for name, value in scores.items():
        live.log_metric(name, value, plot=False)
    live.log_sklearn_plot(
        "confusion_matrix",
        y_true.to_numpy(),
        predicted_labels(proba, classes),
        name="confusion_matrix",
    )
    return scores


def format_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{name}={value:.4f}" for name, value in scores.items())
