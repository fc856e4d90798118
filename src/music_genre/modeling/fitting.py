"""Fitting the model: evaluation sets for boosters, clear errors, and per-round loss curves."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from music_genre.core.errors import DataValidationError, ParamsError, first_line
from music_genre.core.estimators import ESTIMATORS
from music_genre.modeling.threads import limited_threads, resolve_threads

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from music_genre.data.contract import Contract

log = logging.getLogger(__name__)

# Names of the loss curves train logs (dvclive metric names <set>/<metric>, one step per
# boosting round, or per tree of a forest). LightGBM's names, so every model draws alike.
TRAINING_CURVE = "training"
VALIDATION_CURVE = "validation"
CURVE_METRIC = "multi_logloss"


class Validation(NamedTuple):
    """The part of the train split held out from fitting, scored after every boosting round."""

    features: pd.DataFrame
    target: pd.Series


class Prepared(NamedTuple):
    """A preprocessor fitted on the fit rows, with the two matrices it made: what boosters
    watch every round. The tuner keeps one per preprocessing setting between trials."""

    preprocessor: Any
    fit_matrix: Any
    validation_matrix: Any


def fit(
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    model_name: str,
    n_threads: int = 0,
    *,
    validation: Validation | None = None,
    callbacks: Sequence[Callable[..., Any]] = (),
    prepared: Prepared | None = None,
) -> Pipeline:
    """Fit the pipeline; boosters that take an evaluation set also see `validation`.

    LightGBM gets the validation part (and the fitted rows, for the training curve) as
    evaluation sets, and none without `validation` and early stopping (the refit): its early
    stopping (`early_stopping_round`) watches the validation loss, and `callbacks` are called
    after every boosting round. With `prepared` (a booster only), its fitted preprocessor
    becomes the pipeline's and its matrices are what the booster sees.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    spec = ESTIMATORS[model_name]
    log.info("fitting with %d thread(s)", resolve_threads(n_threads))
    try:
        # The forest takes its threads from n_jobs instead.
        with limited_threads(n_threads):
            if spec.takes_eval_set:
                _fit_with_eval_set(
                    pipeline, features, target, validation, callbacks, prepared=prepared
                )
            else:
                pipeline.fit(features, target)
    except InvalidParameterError as error:
        raise ParamsError(f"params.yaml: train.{model_name}: {error}") from None
    except Exception as error:
        # LightGBM reports a bad parameter value as a LightGBMError from its C++ core.
        if type(error).__name__ != "LightGBMError":
            raise
        raise ParamsError(f"params.yaml: train.{model_name}: {first_line(error)}") from None
    # A forest predicting with several threads adds tree probabilities in completion order,
    # so the last digits of predict_proba (and every metric) would vary from run to run.
    # LightGBM's predictions do not depend on threads, but its n_jobs is pickled with it:
    # one fixed value keeps the model's bytes independent of the machine.
    classifier = pipeline.named_steps["classifier"]
    if "n_jobs" in classifier.get_params():
        classifier.set_params(n_jobs=1)
    return pipeline


@contextmanager
def vocabulary_errors(contract: Contract) -> Iterator[None]:
    """An empty TF-IDF vocabulary (while fitting the preprocessor) as one line naming the
    contract's text feature and the text columns it is composed from."""
    try:
        yield
    except ValueError as error:
        if contract.text is None or "empty vocabulary" not in str(error):
            raise
        columns = contract.text_columns
        verb = "are" if len(columns) > 1 else "is"
        raise DataValidationError(
            f"column '{contract.text_feature}': no words to build the TF-IDF vocabulary from "
            f"({verb} {' and '.join(columns)} all empty?)"
        ) from None


def _fit_with_eval_set(
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    validation: Validation | None,
    callbacks: Sequence[Callable[..., Any]],
    *,
    prepared: Prepared | None,
) -> None:
    # The evaluation sets must be in the classifier's input space, so the preprocessor is
    # fitted first, on the fitted rows only, exactly as Pipeline.fit would.
    classifier = pipeline[-1]
    if prepared is not None:
        pipeline.steps[0] = (pipeline.steps[0][0], prepared.preprocessor)
        matrix = prepared.fit_matrix
    else:
        matrix = pipeline.named_steps["preprocessor"].fit_transform(features, target)
    if validation is None and not _stops_early(classifier):
        # The refit (modeling.recipe.refitted, early stopping off): its rounds are fixed and its
        # curves are not kept, so it watches nothing; scoring the fitted rows every round would
        # only cost. With early stopping on, the fitted rows alone are watched, and LightGBM
        # turns early stopping off itself ("Only training set found").
        _fit_booster(classifier, matrix, target, [], names=[], callbacks=callbacks)
        return
    preprocessor = pipeline.named_steps["preprocessor"]
    # The fitted rows are passed as the very same objects, so LightGBM scores them without
    # building a second dataset and its early stopping ignores them (it skips "training").
    eval_sets, names = [(matrix, target)], [TRAINING_CURVE]
    if validation is not None:
        validation_matrix = (
            prepared.validation_matrix
            if prepared is not None
            else preprocessor.transform(validation.features)
        )
        eval_sets.append((validation_matrix, validation.target))
        names.append(VALIDATION_CURVE)
    _fit_booster(classifier, matrix, target, eval_sets, names=names, callbacks=callbacks)


def _stops_early(classifier: Any) -> bool:
    """Whether the booster's arguments ask for early stopping (under any of its names)."""
    from lightgbm.basic import _ConfigAliases

    arguments = classifier.get_params()
    return any(
        (arguments.get(name) or 0) > 0 for name in _ConfigAliases.get("early_stopping_round")
    )


def _fit_booster(
    classifier: Any,
    matrix: Any,
    target: pd.Series,
    eval_sets: list[tuple[Any, pd.Series]],
    *,
    names: list[str],
    callbacks: Sequence[Callable[..., Any]] = (),
) -> None:
    """Fit a booster on the preprocessed fitted rows, watching `eval_sets` every round (early
    stopping on the validation set)."""
    # LightGBM 4.7 deprecates eval_set for eval_X/eval_y, but LGBMClassifier encodes string
    # labels only when they come through eval_set.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The argument 'eval_set' is deprecated")
        classifier.fit(
            matrix,
            target,
            eval_set=eval_sets or None,
            eval_names=names or None,
            callbacks=list(callbacks),
        )


def boosting_rounds(pipeline: Pipeline) -> int | None:
    """The boosting rounds the fitted model predicts with (None for a forest)."""
    classifier = pipeline.named_steps["classifier"]
    best = getattr(classifier, "best_iteration_", None)
    if best:  # LightGBM: the round early stopping chose (0 without early stopping)
        return int(best)
    rounds = getattr(classifier, "n_iter_", None)
    return None if rounds is None else int(rounds)


def loss_curves(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, validation: Validation
) -> dict[str, list[float]]:
    """Per-round log loss of a fitted HistGradientBoosting model or forest, after the fit.

    HistGradientBoosting records the loss of every iteration on its training rows and on its
    own early-stopping split (nothing without early stopping). A forest has no rounds: its
    curve is the log loss of the first k trees' averaged probabilities, k = 1..n_estimators.
    LightGBM is not handled here: train logs it live, round by round.
    """
    import numpy as np

    classifier = pipeline.named_steps["classifier"]
    if hasattr(classifier, "train_score_"):
        # scoring="loss" stores the negative loss; entry 0 is the model before any tree.
        curves = {
            TRAINING_CURVE: classifier.train_score_,
            VALIDATION_CURVE: getattr(classifier, "validation_score_", np.array([])),
        }
        return {
            name: [-float(v) for v in values[1:]]
            for name, values in curves.items()
            if len(values) > 1
        }
    if not hasattr(classifier, "estimators_"):
        return {}
    from sklearn.utils import check_array

    curves = {}
    for name, (rows, labels) in {
        TRAINING_CURVE: (features, target),
        VALIDATION_CURVE: (validation.features, validation.target),
    }.items():
        # Converted once to what the trees predict from, instead of once per tree.
        matrix = check_array(
            pipeline.named_steps["preprocessor"].transform(rows),
            accept_sparse="csr",
            dtype=np.float32,
            accept_large_sparse=False,
        )
        truth = np.searchsorted(classifier.classes_, labels.to_numpy())
        total = np.zeros((len(rows), len(classifier.classes_)))
        curve = []
        for count, tree in enumerate(classifier.estimators_, start=1):
            total += tree.predict_proba(matrix, check_input=False)
            curve.append(_log_loss(total / count, truth))
        curves[name] = curve
    return curves


def _log_loss(proba: Any, truth: Any) -> float:
    """Mean negative log probability of the true class (probabilities clipped at float eps)."""
    import numpy as np

    chosen = proba[np.arange(len(truth)), truth]
    return float(-np.mean(np.log(np.clip(chosen, np.finfo(float).eps, 1.0))))
