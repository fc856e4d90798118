"""The training recipe: fit and validation frames, params and the contract in; the fitted
pipeline, its loss curves and its validation scores out. No file I/O.

The train stage (music_genre.pipeline.train) and every trial of the tuner
(music_genre.experiments.trial) call this one function, so a trial scores exactly what the train
stage would with the same params. The Dask backend's twin (music_genre.modeling.distributed)
takes partitioned frames instead; it fits this recipe on its seeded sample (the preprocessor's
structure and the rounds early stopping picks) and builds its result with `scored`, so the
recipe lives here only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from music_genre.core.estimators import ESTIMATORS
from music_genre.modeling.fitting import (
    Prepared,
    Validation,
    boosting_rounds,
    fit,
    loss_curves,
    vocabulary_errors,
)
from music_genre.modeling.metrics import classification_metrics
from music_genre.modeling.threads import limited_threads

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from music_genre.core.params import Params
    from music_genre.data.contract import Contract


@dataclass(frozen=True)
class Trained:
    pipeline: Pipeline
    classes: list[str]
    # The classifier's probabilities for the validation rows, in `classes` order.
    validation_proba: np.ndarray
    # Validation metrics (music_genre.modeling.metrics): roc_auc, accuracy, f1_macro, log_loss.
    scores: dict[str, float]
    # The boosting rounds the model predicts with (None for a forest).
    rounds: int | None
    # Per-round log loss known only after the fit (`curves[set][round - 1]`, HistGradientBoosting
    # and forests); empty for boosters, whose callbacks see every round live.
    curves: dict[str, list[float]] = field(default_factory=dict)
    # After `refitted`: the rule, the rows and the rounds of the refit, and the rounds chosen on
    # the validation part (the scores, probabilities and curves above are that fit's).
    refit: dict[str, Any] | None = None


def prepare(
    params: Params,
    contract: Contract,
    fit_features: pd.DataFrame,
    fit_target: pd.Series,
    validation: Validation,
) -> Prepared:
    """Fit `params`' preprocessing of the contract's inputs on the fit rows (as Pipeline.fit
    would) and transform both."""
    from music_genre.modeling.build import build_pipeline

    preprocessor = build_pipeline(params.train, params.tfidf, contract).named_steps["preprocessor"]
    with vocabulary_errors(contract):
        fit_matrix = preprocessor.fit_transform(fit_features, fit_target)
    return Prepared(preprocessor, fit_matrix, preprocessor.transform(validation.features))


def train_model(
    params: Params,
    contract: Contract,
    fit_features: pd.DataFrame,
    fit_target: pd.Series,
    validation: Validation,
    *,
    callbacks: Sequence[Callable[..., Any]] = (),
    prepared: Prepared | None = None,
) -> Trained:
    """Build the pipeline `params` and the contract describe, fit it on the fit rows and score
    the validation rows.

    Boosters that take an evaluation set watch the fitted rows and the validation rows every
    round (early stopping on the validation loss; `callbacks` after every round). `prepared`
    (from prepare, with the same preprocessing params and rows) skips fitting the preprocessor.
    """
    from music_genre.modeling.build import build_pipeline

    model = params.train.model
    pipeline = build_pipeline(params.train, params.tfidf, contract)
    boosting = ESTIMATORS[model].takes_eval_set
    if boosting and prepared is None:
        prepared = prepare(params, contract, fit_features, fit_target, validation)
    with vocabulary_errors(contract):
        fit(
            pipeline,
            fit_features,
            fit_target,
            model,
            params.train.n_threads,
            validation=validation,
            callbacks=callbacks,
            prepared=prepared if boosting else None,
        )
    classifier = pipeline.named_steps["classifier"]
    with limited_threads(params.train.n_threads):
        proba = (
            classifier.predict_proba(prepared.validation_matrix)
            if boosting and prepared is not None
            else pipeline.predict_proba(validation.features)
        )
    curves = {} if boosting else loss_curves(pipeline, fit_features, fit_target, validation)
    return scored(pipeline, validation.target, proba, curves=curves)


def refitted(
    params: Params,
    contract: Contract,
    trained: Trained,
    features: pd.DataFrame,
    target: pd.Series,
    *,
    fit_rows: int,
) -> Trained:
    """The final model `params.train.refit` asks for: the pipeline fitted again on `features`
    and `target` (the whole train split), with the rounds early stopping chose on the
    validation part ("same_rounds") or those rounds x whole / `fit_rows` ("scaled_rounds"),
    and no evaluation set. The validation scores, probabilities and curves stay `trained`'s:
    they are the honest ones, computed before the validation rows were fitted."""
    import dataclasses

    from music_genre.modeling.build import build_pipeline, with_rounds

    rule = params.train.refit
    if rule == "none":
        return trained
    train = params.train
    chosen = trained.rounds if ESTIMATORS[train.model].takes_eval_set else None
    if chosen is not None:
        scale = len(features) / fit_rows if rule == "scaled_rounds" else 1.0
        train = with_rounds(train, max(1, round(chosen * scale)))
    pipeline = build_pipeline(train, params.tfidf, contract)
    with vocabulary_errors(contract):
        fit(pipeline, features, target, train.model, train.n_threads)
    rounds = boosting_rounds(pipeline)
    refit = {"rule": rule, "rows": len(features), "rounds": rounds, "validation_rounds": chosen}
    return dataclasses.replace(trained, pipeline=pipeline, rounds=rounds, refit=refit)


def scored(
    pipeline: Pipeline,
    validation_target: pd.Series,
    proba: np.ndarray,
    *,
    curves: dict[str, list[float]] | None = None,
) -> Trained:
    """The recipe's result from a fitted pipeline and its validation probabilities, whichever
    backend fitted it (train_model here, modeling.distributed's twin on a Dask cluster)."""
    classes = [str(name) for name in pipeline.named_steps["classifier"].classes_]
    return Trained(
        pipeline,
        classes,
        proba,
        classification_metrics(validation_target, proba, classes),
        boosting_rounds(pipeline),
        curves or {},
    )
