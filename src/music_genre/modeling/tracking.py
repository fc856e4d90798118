"""dvclive, as used inside DVC stages: metrics and plots go where dvc.yaml declares them.

dvc.yaml declares every metric and plot by hand, so dvclive must neither rewrite dvc.yaml nor
save experiments of its own; and its plots go under the top-level plots/ folder rather than
beside the metrics.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dvclive import Live
from dvclive.lgbm import DVCLiveCallback

from music_genre.modeling.canonical import round_significant
from music_genre.modeling.metrics import predicted_labels

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

    def post_data_to_studio(self) -> None:
        # dvclive builds Studio's payload at every step (re-reading params.yaml and every
        # metrics file so far) even when Studio is not configured and the event is skipped:
        # 30 ms a boosting round here, as long as LightGBM's own work.
        if "data" not in self._studio_events_to_skip:
            super().post_data_to_studio()


def log_scores(live: Live, scores: dict[str, float]) -> None:
    """Log the summary metrics (music_genre.modeling.metrics.classification_metrics)."""
    for name, value in scores.items():
        live.log_metric(name, value, plot=False)


def log_confusion(live: Live, y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]) -> None:
    """Log the confusion matrix of the most probable class against the truth."""
    live.log_sklearn_plot(
        "confusion_matrix",
        y_true.to_numpy(),
        predicted_labels(proba, classes),
        name="confusion_matrix",
    )


def format_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{name}={value:.4f}" for name, value in scores.items())


class RoundedLightGBMCallback(DVCLiveCallback):
    """dvclive's LightGBM callback, logging every round's scores to CURVE_DIGITS digits.

    One dvclive step per boosting round (`<set>/<metric>` per evaluation set), and the
    summary rewritten each step, so `dvc exp show` follows a run while it trains. LightGBM
    sums a metric over rows with every thread, so the unrounded last digits would make the
    committed curves depend on the thread count.
    """

    def __call__(self, env: Any) -> None:
        rounded = [
            (data, metric, round_significant(value), *rest)
            for data, metric, value, *rest in env.evaluation_result_list
        ]
        super().__call__(dataclasses.replace(env, evaluation_result_list=rounded))


def log_curves(live: Live, curves: dict[str, list[float]], metric: str) -> None:
    """Log per-round losses known after the fit (`curves[set][round - 1]`), a step a round."""
    rounds = max((len(values) for values in curves.values()), default=0)
    for index in range(rounds):
        for name, values in curves.items():
            if index < len(values):
                live.log_metric(f"{name}/{metric}", round_significant(values[index]))
        live.next_step()
