"""Building the model: an sklearn Pipeline of per-column preprocessing and the estimator that
params.yaml's train.model names, its keyword arguments checked against the estimator's own."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from music_genre.core.errors import ParamsError
from music_genre.core.estimators import ESTIMATORS, EstimatorSpec
from music_genre.modeling.threads import resolve_threads

# The preprocessor's blocks (ColumnTransformer names; its output features are `<block>__<name>`).
NUMERIC_BLOCK: Final = "num"
CATEGORICAL_BLOCK: Final = "cat"
TEXT_BLOCK: Final = "text"
STATISTICS_BLOCK: Final = "stat"

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from music_genre.core.params import TfidfParams, TrainParams
    from music_genre.data.contract import Contract


def _estimator_class(spec: EstimatorSpec) -> type:
    return getattr(importlib.import_module(spec.module), spec.class_name)


def _accepted_arguments(spec: EstimatorSpec) -> tuple[set[str], str]:
    """The keyword arguments an estimator takes, and how to list them in an error."""
    accepted = set(_estimator_class(spec)().get_params())
    shown = ", ".join(sorted(accepted))
    if spec.module == "lightgbm":
        # LGBMClassifier hands every other keyword to the booster: LightGBM's own parameters
        # and their aliases (deterministic, force_col_wise, early_stopping_round, ...).
        from lightgbm.basic import _ConfigAliases

        for name, aliases in _ConfigAliases._get_all_param_aliases().items():
            accepted |= {name, *aliases}
        shown += ", or a LightGBM parameter or alias"
    return accepted, shown


def accepted_arguments(name: str) -> set[str]:
    """The keyword arguments (and, for LightGBM, booster parameters) estimator `name` takes."""
    return _accepted_arguments(ESTIMATORS[name])[0]


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


def with_rounds(train: TrainParams, rounds: int) -> TrainParams:
    """`train` with its booster set to `rounds` rounds and no early stopping (for the refit on
    the whole train split, modeling.recipe.refitted); every alias of either is replaced."""
    spec = ESTIMATORS[train.model]
    if not spec.takes_eval_set:
        return train
    from lightgbm.basic import _ConfigAliases

    kwargs = dict(getattr(train, train.model))
    for name in ("num_iterations", "early_stopping_round"):
        for alias in _ConfigAliases.get(name):
            kwargs.pop(alias, None)
    kwargs.update(n_estimators=rounds, early_stopping_round=0)
    return train.model_copy(update={train.model: kwargs})


def build_pipeline(train: TrainParams, tfidf: TfidfParams, contract: Contract) -> Pipeline:
    """The preprocessing of the contract's model inputs, then the estimator.

    One block per kind of input, in this order and left out when the contract has no column of
    its kind: "num" (median-imputed, scaled), "cat" (most frequent value imputed, ordinal codes;
    numbers or strings), "text" (TF-IDF of the composed text feature) and, with
    tfidf.statistics, "stat" (modeling.text.STATISTICS of each text column). Everything else in
    the frame is dropped.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler

    from music_genre.modeling.text import TextStatistics, TopTermsTfidfVectorizer

    estimator, spec = make_estimator(train)
    blocks: list[tuple[str, Any, Any]] = []
    if contract.numeric_features:
        blocks.append(
            (
                NUMERIC_BLOCK,
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                list(contract.numeric_features),
            )
        )
    if contract.categorical_features:
        blocks.append(
            (
                CATEGORICAL_BLOCK,
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ),
                list(contract.categorical_features),
            )
        )
    if contract.text_feature is not None:
        # A scalar column name hands the vectorizer the 1-D array of strings it expects.
        # Its max_features terms are chosen by a rule no processor can change.
        blocks.append(
            (
                TEXT_BLOCK,
                TopTermsTfidfVectorizer(binary=True, max_features=tfidf.max_features),
                contract.text_feature,
            )
        )
    if contract.text_columns and tfidf.statistics:
        blocks.append((STATISTICS_BLOCK, TextStatistics(), list(contract.text_columns)))
    preprocessor = ColumnTransformer(
        blocks, remainder="drop", sparse_threshold=0.0 if spec.needs_dense else 0.3
    )
    return Pipeline([("preprocessor", preprocessor), ("classifier", estimator)])


def read_inputs(train: TrainParams, tfidf: TfidfParams, contract: Contract) -> list[str]:
    """The input columns the blocks of the pipeline these params build will read, known before
    any fit, in the contract's model_input_columns order (the raw text columns only for the
    statistics block): what a reader of the split must read."""
    preprocessor = build_pipeline(train, tfidf, contract).named_steps["preprocessor"]
    return _columns_read(preprocessor.transformers, contract.model_input_columns)


def block_columns(preprocessor: Any, order: Sequence[str] = ()) -> list[str]:
    """The input columns a fitted column transformer's blocks read: those of `order` (the
    contract's model_input_columns) in its order, then any other by name."""
    return _columns_read(preprocessor.transformers_, order)


def _columns_read(blocks: Sequence[tuple[str, Any, Any]], order: Sequence[str]) -> list[str]:
    found: set[str] = set()
    for name, _, columns in blocks:
        if name != "remainder":
            found.update([columns] if isinstance(columns, str) else map(str, columns))
    ordered = [column for column in order if column in found]
    return ordered + sorted(found - set(ordered))
