"""The model: an sklearn Pipeline of per-column preprocessing and a configurable classifier."""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from music_genre.core.errors import DataValidationError, ParamsError
from music_genre.core.estimators import ESTIMATORS, EstimatorSpec
from music_genre.data.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TEXT_FEATURE

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from music_genre.core.params import TfidfParams, TrainParams

TEXT_IMPORTANCE_NAME = f"{TEXT_FEATURE} (TF-IDF, summed)"

log = logging.getLogger(__name__)


# Queued experiments run in temporary workspaces under this directory.
QUEUED_WORKSPACE_MARKER = str(Path(".dvc", "tmp", "exps"))


def resolve_threads(n_threads: int) -> int:
    """train.n_threads, with 0 meaning every core (one inside a queued experiment)."""
    if n_threads > 0:
        return n_threads
    if QUEUED_WORKSPACE_MARKER in str(Path.cwd()):
        return 1
    return len(os.sched_getaffinity(0))


def limited_threads(n_threads: int) -> AbstractContextManager[Any]:
    """Cap OpenMP (HistGradientBoosting's fit and predict) and BLAS threads at train.n_threads."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=resolve_threads(n_threads))


def _estimator_class(spec: EstimatorSpec) -> type:
    return getattr(importlib.import_module(spec.module), spec.class_name)


def _accepted_arguments(spec: EstimatorSpec) -> tuple[set[str], str]:
    """The keyword arguments an estimator takes, and how to list them in an error."""
    accepted = set(_estimator_class(spec)().get_params())
    shown = ", ".join(sorted(accepted))
    if spec.module == "lightgbm":
        # LGBMClassifier hands every other keyword to the booster: LightGBM's own parameters
        # and their aliases (deterministic, force_row_wise, early_stopping_round, ...).
        from lightgbm.basic import _ConfigAliases

        for name, aliases in _ConfigAliases._get_all_param_aliases().items():
            accepted |= {name, *aliases}
        shown += ", or a LightGBM parameter or alias"
    return accepted, shown


def _check_arguments(train: TrainParams, name: str) -> set[str]:
    """The estimator's parameter names; raises for a key it does not accept."""
    spec = ESTIMATORS[name]
    accepted, shown = _accepted_arguments(spec)
    unknown = sorted(set(getattr(train, name)) - accepted)
    if unknown:
        raise ParamsError(
            f"params.yaml: 'train.{name}.{unknown[0]}' is not a {spec.class_name} "
            f"parameter (expected one of: {shown})"
        )
    return accepted


def make_estimator(train: TrainParams) -> tuple[Any, EstimatorSpec]:
    """Instantiate the estimator named by train.model with its keyword arguments from params.

    Every estimator's section is checked, not only the selected one, so a typo does not wait
    for the day that model is chosen.
    """
    if train.model not in ESTIMATORS:
        raise ParamsError(
            f"params.yaml: 'train.model' is '{train.model}', expected one of: "
            f"{', '.join(ESTIMATORS)}"
        )
    accepted = {name: _check_arguments(train, name) for name in ESTIMATORS}[train.model]
    spec = ESTIMATORS[train.model]
    kwargs = getattr(train, train.model)
    if "n_jobs" in accepted and "n_jobs" not in kwargs:
        kwargs = {**kwargs, "n_jobs": resolve_threads(train.n_threads)}
    return _estimator_class(spec)(**kwargs), spec


def build_pipeline(train: TrainParams, tfidf: TfidfParams) -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler

    estimator, spec = make_estimator(train)
    preprocessor = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                list(NUMERIC_FEATURES),
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ),
                list(CATEGORICAL_FEATURES),
            ),
            # A scalar column name hands the vectorizer the 1-D array of strings it expects.
            ("text", TfidfVectorizer(binary=True, max_features=tfidf.max_features), TEXT_FEATURE),
        ],
        remainder="drop",
        sparse_threshold=0.0 if spec.needs_dense else 0.3,
    )
    return Pipeline([("preprocessor", preprocessor), ("classifier", estimator)])


class Validation(NamedTuple):
    """The part of the train split held out from fitting, scored after every boosting round."""

    features: pd.DataFrame
    target: pd.Series


def fit(
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    model_name: str,
    n_threads: int = 0,
    *,
    validation: Validation | None = None,
    callbacks: Sequence[Callable[..., Any]] = (),
) -> Pipeline:
    """Fit the pipeline; boosters that take an evaluation set also see `validation`.

    LightGBM gets the validation part (and the fitted rows, for the training curve) as
    evaluation sets: its early stopping (`early_stopping_round`) watches the validation loss,
    and `callbacks` are called after every boosting round.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    spec = ESTIMATORS[model_name]
    log.info("fitting with %d thread(s)", resolve_threads(n_threads))
    try:
        # The forest takes its threads from n_jobs instead.
        with limited_threads(n_threads):
            if spec.takes_eval_set:
                _fit_with_eval_set(pipeline, features, target, validation, callbacks)
            else:
                pipeline.fit(features, target)
    except InvalidParameterError as error:
        raise ParamsError(f"params.yaml: train.{model_name}: {error}") from None
    except ValueError as error:
        if "empty vocabulary" in str(error):
            raise DataValidationError(
                f"column '{TEXT_FEATURE}': no words to build the TF-IDF vocabulary from "
                "(are title and song_name all empty?)"
            ) from None
        raise
    except Exception as error:
        # LightGBM reports a bad parameter value as a LightGBMError from its C++ core.
        if type(error).__name__ != "LightGBMError":
            raise
        raise ParamsError(f"params.yaml: train.{model_name}: {_first_line(error)}") from None
    # A forest predicting with several threads adds tree probabilities in completion order,
    # so the last digits of predict_proba (and every metric) would vary from run to run.
    # LightGBM's predictions do not depend on threads, but its n_jobs is pickled with it:
    # one fixed value keeps the model's bytes independent of the machine.
    classifier = pipeline.named_steps["classifier"]
    if "n_jobs" in classifier.get_params():
        classifier.set_params(n_jobs=1)
    return pipeline


def _fit_with_eval_set(
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    validation: Validation | None,
    callbacks: Sequence[Callable[..., Any]],
) -> None:
    # The evaluation sets must be in the classifier's input space, so the preprocessor is
    # fitted first, on the fitted rows only, exactly as Pipeline.fit would.
    preprocessor, classifier = pipeline.named_steps["preprocessor"], pipeline[-1]
    matrix = preprocessor.fit_transform(features, target)
    eval_x, eval_y, names = [matrix], [target], [TRAINING_CURVE]
    if validation is not None:
        eval_x.append(preprocessor.transform(validation.features))
        eval_y.append(validation.target)
        names.append(VALIDATION_CURVE)
    # The fitted rows are passed as the very same objects, so LightGBM scores them without
    # building a second dataset and its early stopping ignores them (it skips "training").
    # LightGBM 4.7 deprecates eval_set for eval_X/eval_y, but LGBMClassifier encodes string
    # labels only when they come through eval_set.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The argument 'eval_set' is deprecated")
        classifier.fit(
            matrix,
            target,
            eval_set=list(zip(eval_x, eval_y, strict=True)),
            eval_names=names,
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


# Names of the loss curves train logs (dvclive metric names <set>/<metric>, one step per
# boosting round, or per tree of a forest). LightGBM's names, so every model draws alike.
TRAINING_CURVE = "training"
VALIDATION_CURVE = "validation"
CURVE_METRIC = "multi_logloss"
# Curves are rounded to this many significant digits: LightGBM sums a metric over rows with
# every thread, so its last digits (not the trees) depend on the thread count.
CURVE_DIGITS = 6


def round_significant(value: float, digits: int = CURVE_DIGITS) -> float:
    return float(f"{value:.{digits}g}")


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


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def canonicalize_for_pickling(pipeline: Pipeline) -> None:
    """Clear state that would make identical models pickle to different bytes.

    Call it right before saving: predicting sets the vectorizer's _stop_words_id again.
    """
    # The vectorizer's stop_words_ is a set: its pickled order follows Python's per-process
    # string hashing, which would make model.joblib differ byte-wise between identical runs.
    # sklearn documents it as introspection-only and safe to drop.
    # _stop_words_id caches id(stop_words), a memory address that differs in every process;
    # without it sklearn simply re-checks the stop words once.
    vectorizer = pipeline.named_steps["preprocessor"].named_transformers_["text"]
    for attribute in ("stop_words_", "_stop_words_id"):
        if hasattr(vectorizer, attribute):
            delattr(vectorizer, attribute)
    classifier = pipeline.named_steps["classifier"]
    # HistGradientBoosting's bin mapper keeps the thread count it was fitted with, so with
    # n_threads 0 the bytes would follow the machine's cores. None (its default) means "all
    # cores" when it bins again, which predict never does.
    bin_mapper = getattr(classifier, "_bin_mapper", None)
    if bin_mapper is not None:
        bin_mapper.n_threads = None
    if hasattr(classifier, "booster_"):
        _canonicalize_lightgbm(classifier)


def _canonicalize_lightgbm(classifier: Any) -> None:
    """LightGBM: the same trees give the same bytes whatever the fitting thread count.

    The booster's saved text and its params record num_threads, and the recorded evaluation
    results (summed over rows by every thread) differ in their last digits. The thread count
    becomes the one predict uses (n_jobs, set to 1 by fit) and the scores are rounded as the
    logged curves are. The booster is rebuilt through its own pickling protocol.
    """
    import re

    booster = classifier.booster_
    threads = classifier.get_params()["n_jobs"]
    state = booster.__getstate__()
    state["_handle"] = re.sub(
        r"^\[num_threads: -?\d+\]$", f"[num_threads: {threads}]", state["_handle"], flags=re.M
    )
    state["params"] = {**state["params"], "num_threads": threads}
    state["best_score"] = _rounded_scores(state["best_score"])
    booster.__setstate__(state)
    classifier._best_score = _rounded_scores(classifier._best_score)
    classifier._evals_result = {
        data: {metric: [round_significant(v) for v in values] for metric, values in scores.items()}
        for data, scores in classifier._evals_result.items()
    }


def _rounded_scores(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        data: {metric: round_significant(value) for metric, value in results.items()}
        for data, results in scores.items()
    }


PERMUTATION_REPEATS = 3
PERMUTATION_ROWS = 3000


def permutation_importances(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, seed: int
) -> list[tuple[str, float]]:
    """Mean drop in accuracy when each input column is shuffled (seeded, on a sample of rows).

    For estimators without impurity importances (HistGradientBoosting); text_feature is one
    column here, so the TF-IDF block is judged as a whole.
    """
    from sklearn.inspection import permutation_importance

    result = permutation_importance(
        pipeline,
        features,
        target,
        n_repeats=PERMUTATION_REPEATS,
        random_state=seed,
        max_samples=min(PERMUTATION_ROWS, len(features)),
        n_jobs=1,
    )
    pairs = zip(features.columns, result.importances_mean, strict=True)
    return sorted(
        ((str(name), float(value)) for name, value in pairs), key=lambda item: (-item[1], item[0])
    )


def feature_importances(pipeline: Pipeline) -> tuple[list[tuple[str, float]], str] | None:
    """The model's own importance per input column, shares summing to 1, and what they measure.

    The TF-IDF block is summed into one entry. None for a model without importances of its
    own (HistGradientBoosting), which gets permutation importances instead.
    """
    classifier = pipeline.named_steps["classifier"]
    if not hasattr(classifier, "feature_importances_"):
        return None
    # LightGBM: total gain (or split count) of the splits on a column; forests: mean
    # decrease in impurity, already normalised.
    kind = getattr(classifier, "importance_type", None)
    measure = "mean decrease in impurity" if kind is None else f"share of the splits' total {kind}"
    names = pipeline.named_steps["preprocessor"].get_feature_names_out()
    totals: dict[str, float] = {}
    for name, importance in zip(names, classifier.feature_importances_, strict=True):
        block, _, column = name.partition("__")
        key = TEXT_IMPORTANCE_NAME if block == "text" else column
        totals[key] = totals.get(key, 0.0) + float(importance)
    grand_total = sum(totals.values()) or 1.0
    shares = sorted(
        ((name, value / grand_total) for name, value in totals.items()),
        key=lambda item: (-item[1], item[0]),
    )
    return shares, f"{measure} (sums to 1)"
