"""The estimator registry: every model `train.model` can name, in one place.

params.py derives the `train.<name>` sections of params.yaml from it, model.py builds the
estimators from it, and the README's list of models follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class EstimatorSpec:
    module: str
    class_name: str
    # Estimators that cannot take the sparse TF-IDF block get a dense matrix.
    needs_dense: bool = False
    # Fitted with train's validation part as an evaluation set: early stopping and a loss
    # curve logged live, one step per boosting round.
    takes_eval_set: bool = False
    # Explains its predictions natively: per-feature contributions to each class's raw score
    # that add up to it (LightGBM's TreeSHAP, `pred_contrib`); /explain needs it.
    contributions: bool = False


ESTIMATORS: Final[dict[str, EstimatorSpec]] = {
    "lightgbm": EstimatorSpec(
        "lightgbm", "LGBMClassifier", takes_eval_set=True, contributions=True
    ),
    "hist_gradient_boosting": EstimatorSpec(
        "sklearn.ensemble", "HistGradientBoostingClassifier", needs_dense=True
    ),
    "random_forest": EstimatorSpec("sklearn.ensemble", "RandomForestClassifier"),
}
