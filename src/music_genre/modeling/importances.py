"""Feature importances per input column: the model's own, or permutation importances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from music_genre.modeling.build import STATISTICS_BLOCK, TEXT_BLOCK, block_columns

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

PERMUTATION_REPEATS = 3
PERMUTATION_ROWS = 3000


def text_importance_name(text_feature: str) -> str:
    """The one entry the TF-IDF block's terms are summed into."""
    return f"{text_feature} (TF-IDF, summed)"


def text_column(pipeline: Pipeline) -> str | None:
    """The column the model's TF-IDF block reads (the contract's text feature), if it has one."""
    for name, _, columns in pipeline.named_steps["preprocessor"].transformers:
        if name == TEXT_BLOCK:
            return str(columns)
    return None


def input_column(feature: str, text_feature: str | None) -> tuple[str, str | None]:
    """The input column that a preprocessor feature (`get_feature_names_out`) comes from, and its
    TF-IDF term: `num__<column>` is (<column>, None), `text__<term>` is (text_feature, <term>),
    and a text statistic `stat__<column>__<statistic>` is (<column>, None)."""
    block, _, rest = feature.partition("__")
    if block == TEXT_BLOCK and text_feature is not None:
        return text_feature, rest
    if block == STATISTICS_BLOCK:
        return rest.rpartition("__")[0], None
    return rest, None


def permutation_importances(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, seed: int
) -> list[tuple[str, float]]:
    """Mean drop in accuracy when each input column is shuffled (seeded, on a sample of rows).

    For estimators without impurity importances (HistGradientBoosting); the text feature is one
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
    # A column no block reads (the text columns without the statistics block) scores exactly 0
    # and is left out, so the entries are the columns the model reads.
    read = set(read_columns(pipeline))
    pairs = zip(features.columns, result.importances_mean, strict=True)
    return sorted(
        ((str(name), float(value)) for name, value in pairs if str(name) in read),
        key=lambda item: (-item[1], item[0]),
    )


def read_columns(pipeline: Pipeline, order: Sequence[str] = ()) -> list[str]:
    """The input columns the fitted preprocessor's blocks read: those of `order` (the
    contract's model_input_columns) in its order, then any other by name. The one answer to
    "which columns does this model read" (importances, explanations, the Dask readers)."""
    return block_columns(pipeline.named_steps["preprocessor"], order)


def feature_importances(pipeline: Pipeline) -> tuple[list[tuple[str, float]], str] | None:
    """The model's own importance per input column, shares summing to 1, and what they measure.

    The TF-IDF block is summed into one entry (text_importance_name). None for a model without
    importances of its own (HistGradientBoosting), which gets permutation importances instead.
    """
    classifier = pipeline.named_steps["classifier"]
    if not hasattr(classifier, "feature_importances_"):
        return None
    # LightGBM: total gain (or split count) of the splits on a column; forests: mean
    # decrease in impurity, already normalised.
    kind = getattr(classifier, "importance_type", None)
    measure = "mean decrease in impurity" if kind is None else f"share of the splits' total {kind}"
    names = pipeline.named_steps["preprocessor"].get_feature_names_out()
    text_feature = text_column(pipeline)
    totals: dict[str, float] = {}
    for name, importance in zip(names, classifier.feature_importances_, strict=True):
        column, term = input_column(str(name), text_feature)
        key = column if term is None else text_importance_name(column)
        totals[key] = totals.get(key, 0.0) + float(importance)
    grand_total = sum(totals.values()) or 1.0
    shares = sorted(
        ((name, value / grand_total) for name, value in totals.items()),
        key=lambda item: (-item[1], item[0]),
    )
    return shares, f"{measure} (sums to 1)"
