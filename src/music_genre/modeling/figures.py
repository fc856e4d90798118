"""PNG renderings of the evaluation, so a person can look without a browser or a network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _new_figure(width: float, height: float) -> Figure:
    # The object-oriented API (no pyplot) needs no display and keeps no global figure state.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def confusion_matrix_figure(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> Figure:
    from sklearn.metrics import ConfusionMatrixDisplay

    figure = _new_figure(11, 10)
    axes = figure.subplots()
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=list(classes),
        normalize="true",
        values_format=".2f",
        xticks_rotation=90,
        ax=axes,
        colorbar=False,
        cmap="Blues",
    )
    axes.set_title("Confusion matrix on the test split (each row sums to 1)")
    return figure


def feature_importance_figure(importances: Sequence[tuple[str, float]], measure: str) -> Figure:
    figure = _new_figure(9, 0.4 * len(importances) + 1.5)
    axes = figure.subplots()
    names = [name for name, _ in importances][::-1]
    values = [value for _, value in importances][::-1]
    axes.barh(names, values, color="tab:blue")
    axes.set_xlabel(measure)
    axes.set_title("Feature importances")
    return figure
