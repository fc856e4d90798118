"""The model: an sklearn Pipeline of per-column preprocessing and a configurable classifier."""

from __future__ import annotations

import importlib
import logging
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.errors import DataValidationError, ParamsError
from music_genre.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TEXT_FEATURE

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from music_genre.params import TfidfParams, TrainParams

TEXT_IMPORTANCE_NAME = f"{TEXT_FEATURE} (TF-IDF, summed)"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EstimatorSpec:
    module: str
    class_name: str
    # Estimators that cannot take the sparse TF-IDF block get a dense matrix.
    needs_dense: bool = False


ESTIMATORS: dict[str, EstimatorSpec] = {
    "random_forest": EstimatorSpec("sklearn.ensemble", "RandomForestClassifier"),
    "hist_gradient_boosting": EstimatorSpec(
        "sklearn.ensemble", "HistGradientBoostingClassifier", needs_dense=True
    ),
}
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


def _check_arguments(train: TrainParams, name: str) -> dict[str, Any]:
    """The estimator's parameter names; raises for a key it does not accept."""
    spec = ESTIMATORS[name]
    accepted = _estimator_class(spec)().get_params()
    unknown = sorted(set(getattr(train, name)) - set(accepted))
    if unknown:
        raise ParamsError(
            f"params.yaml: 'train.{name}.{unknown[0]}' is not a {spec.class_name} "
            f"parameter (expected one of: {', '.join(sorted(accepted))})"
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


def fit(
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    model_name: str,
    n_threads: int = 0,
) -> Pipeline:
    from sklearn.utils._param_validation import InvalidParameterError

    log.info("fitting with %d thread(s)", resolve_threads(n_threads))
    try:
        # The forest takes its threads from n_jobs instead.
        with limited_threads(n_threads):
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
    # A forest predicting with several threads adds tree probabilities in completion order,
    # so the last digits of predict_proba (and every metric) would vary from run to run.
    classifier = pipeline.named_steps["classifier"]
    if "n_jobs" in classifier.get_params():
        classifier.set_params(n_jobs=1)
    return pipeline


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
    # HistGradientBoosting's bin mapper keeps the thread count it was fitted with, so with
    # n_threads 0 the bytes would follow the machine's cores. None (its default) means "all
    # cores" when it bins again, which predict never does.
    bin_mapper = getattr(pipeline.named_steps["classifier"], "_bin_mapper", None)
    if bin_mapper is not None:
        bin_mapper.n_threads = None


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


def feature_importances(pipeline: Pipeline) -> list[tuple[str, float]] | None:
    """Importance per input column, the TF-IDF block summed into one entry; None if unknown."""
    classifier = pipeline.named_steps["classifier"]
    if not hasattr(classifier, "feature_importances_"):
        return None
    names = pipeline.named_steps["preprocessor"].get_feature_names_out()
    totals: dict[str, float] = {}
    for name, importance in zip(names, classifier.feature_importances_, strict=True):
        block, _, column = name.partition("__")
        key = TEXT_IMPORTANCE_NAME if block == "text" else column
        totals[key] = totals.get(key, 0.0) + float(importance)
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))
