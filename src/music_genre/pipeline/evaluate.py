"""evaluate: score the saved model on the test split; log metrics, curves and pictures."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.core import paths
from music_genre.core.fileio import read_parquet, write_json
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

    from music_genre.data.contract import Contract

log = logging.getLogger(__name__)


# The per-class curves' plot template (Vega-Lite with DVC's anchors), written beside the curves
# so that it follows the contract: one line per class (its `color` field is the target),
# revisions told apart by dash style. dvc.yaml's plots name it by this path.
CURVES_TEMPLATE = "curves_template.json"


def curves_template(target: str) -> dict[str, object]:
    axis = {"type": "quantitative"}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": "<DVC_METRIC_DATA>"},
        "title": {"text": "<DVC_METRIC_TITLE>", "anchor": "middle"},
        "width": 420,
        "height": 360,
        "mark": {"type": "line", "tooltip": {"content": "data"}},
        "encoding": {
            "x": {"field": "<DVC_METRIC_X>", **axis, "title": "<DVC_METRIC_X_LABEL>"},
            "y": {"field": "<DVC_METRIC_Y>", **axis, "title": "<DVC_METRIC_Y_LABEL>"},
            "color": {"field": target, "type": "nominal", "title": target},
            "strokeDash": {"field": "rev", "type": "nominal", "title": "revision"},
        },
    }


def evaluate(
    model_path: str,
    test_path: str,
    metrics_dir: str,
    plots_dir: str,
    *,
    seed: int,
    n_threads: int = 1,
    contract: Contract | None = None,
) -> dict[str, float]:
    """Score the model on the test split with at most `n_threads` threads (0: every core).

    The target and the input columns are the model's (its card); `contract`, the project's,
    must be the one the model was trained under.
    """
    from music_genre.modeling.importances import feature_importances, permutation_importances
    from music_genre.modeling.metrics import classification_metrics
    from music_genre.modeling.store import load_model
    from music_genre.modeling.threads import limited_threads
    from music_genre.modeling.tracking import StageLive, format_scores, log_confusion, log_scores

    pipeline, card = load_model(model_path)
    contract = model_contract(card, model_path, contract)
    inputs, target = card["input_columns"], contract.target
    table = read_parquet(test_path, columns=[*inputs, target])
    classes = card["classes"]
    with limited_threads(n_threads):
        proba = pipeline.predict_proba(table[inputs])

    live = StageLive(metrics_dir, plots_dir)
    scores = classification_metrics(table[target], proba, classes)
    log_scores(live, scores)
    log_confusion(live, table[target], proba, classes)
    log_per_class_curves(live, table[target], proba, classes, target)
    log_confusion_image(live, table[target], proba, classes)
    own = feature_importances(pipeline)
    if own is not None:
        importances, measure = own
    else:
        # Only for a model with no importances of its own: it costs a prediction of the
        # sampled rows per column and repeat.
        with limited_threads(n_threads):
            importances = permutation_importances(pipeline, table[inputs], table[target], seed)
        measure = "mean drop in accuracy when the column is shuffled (test split)"
    log_feature_importances(live, importances, measure)
    live.end()
    log.info("test: %s", format_scores(scores))
    return scores


def model_contract(card: dict[str, Any], model_path: str, contract: Contract | None) -> Contract:
    """The contract the model was trained under (its card's), checked against `contract`; a
    card from before contracts has none, and then `contract` is taken as it is."""
    from music_genre.data.contract import ContractError, parse_contract
    from music_genre.modeling.store import card_path_for

    carried = card.get("contract")
    if carried is None:
        if contract is None:
            raise ContractError(f"{card_path_for(model_path)}: the model card records no contract")
        return contract
    trained = parse_contract(carried, f"{card_path_for(model_path)}: contract")
    if contract is not None and trained.card() != contract.card():
        raise ContractError(
            f"{model_path}: the model was trained under another contract than "
            f"{paths.CONTRACT} (train it again: dvc repro train)"
        )
    return trained


def log_per_class_curves(
    live: Live, y_true: pd.Series, proba: np.ndarray, classes: Sequence[str], target: str
) -> None:
    """One-vs-rest ROC and precision-recall curves of every class, one file for each kind, and
    the per-class scores (per_<target>.json); each row names its class under the target.

    dvclive's own ROC/PR plots are binary and keep every threshold (megabytes per class for a
    forest); these are sampled on a fixed grid so they stay small enough for git.
    """
    labels = y_true.to_numpy()
    roc, precision_recall = [], []
    for index, label in enumerate(classes):
        is_class = labels == label
        roc += [{target: label, **point} for point in roc_points(is_class, proba[:, index])]
        precision_recall += [
            {target: label, **point} for point in precision_recall_points(is_class, proba[:, index])
        ]
    template = Path(live.plots_dir) / "custom" / CURVES_TEMPLATE
    write_json(curves_template(target), template)
    live.log_plot("roc", roc, x="fpr", y="tpr", template=str(template))
    live.log_plot(
        "precision_recall", precision_recall, x="recall", y="precision", template=str(template)
    )
    live.log_plot(
        Path(paths.per_class_plot(target)).stem,
        per_class_scores(y_true, predicted_labels(proba, classes), classes, target),
        x="f1",
        y=target,
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
