"""The training recipe's distributed twin: the same inputs and result as
modeling.recipe.train_model, with the fit and validation parts partitioned on a Dask cluster
(modeling.chunks.PartitionedSplit) instead of frames in this process.

1. One pass over the fit rows counts the labels and finds each numeric column's range and each
   categorical column's values (modeling.statistics).
2. A seeded sample of dask.sample_rows fit rows (and as large a share of the validation rows)
   comes to this process, and the recipe itself fits on it: its preprocessor gives the
   structure and the TF-IDF vocabulary and, unless dask.boosting_rounds is set, its early
   stopping gives the rounds (LightGBM's Dask estimator cannot stop early). A split no larger
   than the sample is fitted whole, exactly as the local backend fits it.
3. Reductions over every fit row replace the sample's statistics: exact medians, means and
   variances, category sets, document frequencies.
4. Each chunk's fit rows, and its validation rows, are transformed and dealt to the workers by
   class (modeling.shares); every worker must hold every class; LightGBM's DaskLGBMClassifier
   fits on the fit rows, each worker recording every round's loss on its own fit rows and
   validation rows, added up afterwards (modeling.dask_booster).
5. The booster becomes the local Pipeline (the same type, steps and estimator as the local
   backend's); the validation probabilities are computed on the workers.

The model's bytes depend on the data (its rows and their order), params.yaml, the contract,
the seed, dask.workers and the library versions; not on the chunking, the cluster's addresses
or the order the tasks ran in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from music_genre.core.errors import ParamsError
from music_genre.modeling.chunks import Cluster, PartitionedSplit, draw_sample, read_chunk
from music_genre.modeling.fitting import Validation
from music_genre.modeling.recipe import Trained, prepare, scored, train_model
from music_genre.modeling.shares import (
    as_collections,
    build_shares,
    check_classes,
    share_classes,
    validation_scores,
)
from music_genre.modeling.statistics import (
    Summary,
    apply_statistics,
    combine,
    combine_moments,
    histogram,
    imputed_means,
    median_of,
    middle_bins,
    moments,
    summarize,
    values_in_bins,
)

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.core.params import Params
    from music_genre.data.contract import Contract

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedTrained:
    """What the distributed fit gives: the recipe's result, and the validation labels."""

    trained: Trained
    validation_target: pd.Series
    # Where the rounds came from: "sample" (early stopping there) or "params".
    rounds_from: str


def check_backend(params: Params) -> None:
    """The Dask backend fits LightGBM only."""
    if params.train.model != "lightgbm":
        raise ParamsError(
            f"params.yaml: 'train.backend' is 'dask', which fits LightGBM only "
            f"('train.model' is '{params.train.model}')"
        )


def fit_sample(
    params: Params, contract: Contract, fit: pd.DataFrame, validation: pd.DataFrame
) -> tuple[Any, int, str]:
    """The recipe on the sample: the preprocessor (structure, vocabulary) and the rounds
    (early stopping's, or dask.boosting_rounds)."""
    from music_genre.modeling.build import read_inputs

    inputs, target = read_inputs(params.train, params.tfidf, contract), contract.target
    held_out = Validation(validation[inputs], validation[target])
    if params.dask.boosting_rounds is not None:
        prepared = prepare(params, contract, fit[inputs], fit[target], held_out)
        return prepared.preprocessor, params.dask.boosting_rounds, "params"
    trained = train_model(params, contract, fit[inputs], fit[target], held_out)
    rounds = trained.rounds or 1
    log.info("early stopping on the sample (%d fit rows) chose %d rounds", len(fit), rounds)
    return trained.pipeline.named_steps["preprocessor"], rounds, "sample"


def _medians(
    cluster: Cluster, split: PartitionedSplit, contract: Contract, summary: Summary
) -> list[float]:
    """Each numeric column's exact median over the fit rows (three passes in all)."""
    columns = list(contract.numeric_features)
    if not columns:
        return []
    bounds = list(zip(summary.lows, summary.highs, strict=True))
    counts = sum(cluster.each(histogram, split, columns, bounds))
    located = [
        middle_bins(counts[index], present) if present else ([], 0)
        for index, present in enumerate(summary.present)
    ]
    found = cluster.each(values_in_bins, split, columns, bounds, [bins for bins, _ in located])
    return [
        median_of([part[index] for part in found], present, before) if present else float("nan")
        for index, (present, (_, before)) in enumerate(zip(summary.present, located, strict=True))
    ]


def _statistics(
    cluster: Cluster, split: PartitionedSplit, contract: Contract, params: Params
) -> tuple[Any, int, str, list[Summary]]:
    """The preprocessor fitted by the sample and the reductions; the rounds; the summaries."""
    from music_genre.modeling.build import TEXT_BLOCK

    summaries = cluster.each(summarize, split, contract)
    summary = combine(summaries)
    fit, validation = draw_sample(
        cluster, split, contract, params, [part.rows for part in summaries]
    )
    preprocessor, rounds, rounds_from = fit_sample(params, contract, fit, validation)
    medians = _medians(cluster, split, contract, summary)
    means = imputed_means(summary, medians)
    vectorizer = preprocessor.named_transformers_.get(TEXT_BLOCK)
    found = cluster.each(
        moments,
        split,
        columns=list(contract.numeric_features),
        medians=medians,
        means=means,
        vectorizer=vectorizer,
        text=contract.text_feature,
    )
    variances, frequencies = combine_moments(found, summary.rows)
    apply_statistics(preprocessor, summary, (medians, means, variances), frequencies)
    return preprocessor, rounds, rounds_from, summaries


def _local_pipeline(
    params: Params,
    contract: Contract,
    *,
    preprocessor: Any,
    fitted: Any,
    classes: list[str],
    rounds: int,
    curves: dict[str, list[float]],
) -> Any:
    """The Pipeline the local backend builds, with the fitted preprocessor and booster."""
    from music_genre.modeling.build import build_pipeline
    from music_genre.modeling.dask_booster import local_model

    lightgbm = {**getattr(params.train, params.train.model), "n_estimators": rounds}
    pipeline = build_pipeline(
        params.train.model_copy(update={"lightgbm": lightgbm}), params.tfidf, contract
    )
    pipeline.steps[0] = (pipeline.steps[0][0], preprocessor)
    local_model(pipeline.named_steps["classifier"], fitted, classes, curves)
    # As modeling.fitting.fit leaves it: the thread count is not part of the model.
    pipeline.named_steps["classifier"].set_params(n_jobs=1)
    return pipeline


def _dealt(
    cluster: Cluster,
    split: PartitionedSplit,
    contract: Contract,
    preprocessor: Any,
    dealing: tuple[list[str], dict[str, float] | None, list[Summary]],
) -> tuple[tuple[Any, Any, Any], tuple[Any, Any], list[Fraction], list[int]]:
    """The fit rows and the validation rows dealt to the workers, every worker checked to
    hold every class: the Dask arrays LightGBM fits on and scores, each worker's sum of
    sample weights and its validation rows."""
    shares = build_shares(cluster, split, contract, preprocessor, dealing)
    held_out = build_shares(cluster, split, contract, preprocessor, dealing, validation=True)
    found = cluster.gather(
        [cluster.client.submit(share_classes, share, pure=False) for share in [*shares, *held_out]]
    )
    fit_found, held_found = found[: len(shares)], found[len(shares) :]
    check_classes(fit_found, dealing[0], cluster.workers)
    example = preprocessor.transform(_first_rows(cluster, split, preprocessor, contract))
    data = as_collections(cluster, shares, [rows for rows, _, _ in fit_found], example)
    validation = as_collections(cluster, held_out, [rows for rows, _, _ in held_found], example)
    weights = [weight for _, _, weight in fit_found]
    return data, validation[:2], weights, [rows for rows, _, _ in held_found]


def train_model_distributed(
    params: Params, contract: Contract, split: PartitionedSplit, cluster: Cluster
) -> DistributedTrained:
    """Fit the pipeline `params` and the contract describe on the split's fit rows with
    LightGBM on the cluster's workers, and score its validation rows (modeling.recipe's
    train_model, partitioned)."""
    from music_genre.modeling.dask_booster import (
        combine_curves,
        dask_arguments,
        fit_on_cluster,
        sample_weights,
    )

    check_backend(params)
    preprocessor, rounds, rounds_from, summaries = _statistics(cluster, split, contract, params)
    labels = combine(summaries).labels
    classes = sorted(labels)
    weights = sample_weights(getattr(params.train, params.train.model).get("class_weight"), labels)
    data, validation, fit_weights, validation_rows = _dealt(
        cluster, split, contract, preprocessor, (classes, weights, summaries)
    )
    log.info(
        "fitting %s on %d rows over %d Dask workers, %d rounds (from the %s)",
        params.train.model,
        split.fit_rows,
        len(cluster.workers),
        rounds,
        rounds_from,
    )
    arguments = dask_arguments(params.train, rounds)
    fitted, recorded = fit_on_cluster(cluster.client, cluster.workers, arguments, data, validation)
    log.info("fitted; validation probabilities on the workers")
    curves = combine_curves(recorded, fit_weights, validation_rows)
    pipeline = _local_pipeline(
        params,
        contract,
        preprocessor=preprocessor,
        fitted=fitted,
        classes=classes,
        rounds=rounds,
        curves=curves,
    )
    proba, target = validation_scores(cluster, split, contract, pipeline)
    trained = scored(pipeline, target, proba, curves=curves)
    return DistributedTrained(trained, target, rounds_from)


def _first_rows(
    cluster: Cluster, split: PartitionedSplit, preprocessor: Any, contract: Contract
) -> pd.DataFrame:
    """A few rows of the first chunk, to learn the transformed matrix's width and kind."""
    from music_genre.modeling.build import block_columns
    from music_genre.modeling.chunks import Chunk

    first = split.chunks[0]
    head = Chunk(first.path, first.row_group, first.start, min(first.stop, first.start + 8))
    columns = block_columns(preprocessor, contract.model_input_columns)
    future = cluster.client.submit(read_chunk, head, columns, pure=False)
    return cluster.gather([future])[0]
