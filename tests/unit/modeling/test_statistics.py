"""modeling.statistics: the preprocessor's statistics by reductions over chunks, as
scikit-learn computes them on the whole fit set (no cluster: the tasks run here)."""

import itertools
import math

import numpy as np
import pytest

from music_genre.modeling.build import CATEGORICAL_BLOCK, NUMERIC_BLOCK, TEXT_BLOCK, build_pipeline
from music_genre.modeling.chunks import plan_chunks
from music_genre.modeling.statistics import (
    apply_statistics,
    bin_counts,
    binned_values,
    combine,
    combine_moments,
    exact_sum,
    histogram,
    imputed_means,
    median_of,
    middle_bins,
    moments,
    most_frequent,
    summarize,
    values_in_bins,
)
from support.data import prepared_songs, songs_contract
from support.models import small_model_params


def test_exact_sums_do_not_depend_on_the_chunking():
    rng = np.random.default_rng(0)
    for scale in (1e-4, 1.0, 3e5):
        values = rng.normal(size=20_000) * scale
        values[::9] = np.nan
        whole = exact_sum(values)
        cuts = [0, 7, 5_000, 5_001, 13_333, 20_000]
        parts = sum((exact_sum(values[a:b]) for a, b in itertools.pairwise(cuts)), start=0)
        assert parts == whole
        assert float(whole) == math.fsum(values[~np.isnan(values)])
    assert exact_sum(np.array([np.nan])) == 0


def _median_by_passes(values, chunks):
    """The passes of modeling.distributed._medians on one column in pieces."""
    pieces = [piece[:, None] for piece in np.array_split(values, chunks)]
    present = int((~np.isnan(values)).sum())
    bounds = [(float(np.nanmin(values)), float(np.nanmax(values)))]
    counts = sum(bin_counts(piece, bounds) for piece in pieces)
    bins, before = middle_bins(counts[0], present)
    found = [binned_values(piece, bounds, [bins])[0] for piece in pieces]
    return median_of(found, present, before)


@pytest.mark.parametrize("rows", [1, 2, 7, 1000, 1001])
def test_medians_by_histogram_passes_are_numpys_exactly(rows):
    rng = np.random.default_rng(rows)
    values = np.round(rng.normal(size=rows) * 10, 1)  # ties in plenty
    values[rng.random(rows) < 0.2] = np.nan
    if np.isnan(values).all():
        values[0] = 1.5
    assert _median_by_passes(values, 3) == np.nanmedian(values)
    assert _median_by_passes(np.full(10, 4.25), 2) == 4.25
    # Values far apart put the middle ranks in different bins.
    spread = np.array([0.0, 1e-9, 2e-9, 1e6])
    assert _median_by_passes(spread, 2) == np.median(spread)


def test_most_frequent_breaks_ties_as_scikit_learn_does():
    from collections import Counter

    from sklearn.impute import SimpleImputer

    values = [3, 1, 3, 1, 2]
    imputer = SimpleImputer(strategy="most_frequent").fit(np.array(values, dtype=float)[:, None])
    assert most_frequent(Counter(values)) == imputer.statistics_[0] == 1
    assert most_frequent(Counter(["b", "a", "b", "a"])) == "a"


def _fitted(frame, contract, params):
    preprocessor = build_pipeline(params.train, params.tfidf, contract).named_steps["preprocessor"]
    return preprocessor.fit(frame[list(contract.model_input_columns)], frame[contract.target])


def _statistics(path, contract, chunk_rows, vectorizer):
    """The reductions of modeling.distributed over the chunks of `path`, run here."""
    chunks = plan_chunks(str(path), chunk_rows, list(contract.model_input_columns))
    masks = [np.zeros(chunk.rows, dtype=bool) for chunk in chunks]
    summary = combine([summarize(c, m, contract) for c, m in zip(chunks, masks, strict=True)])
    columns = list(contract.numeric_features)
    bounds = list(zip(summary.lows, summary.highs, strict=True))
    counts = sum(histogram(c, m, columns, bounds) for c, m in zip(chunks, masks, strict=True))
    located = [middle_bins(counts[i], n) for i, n in enumerate(summary.present)]
    found = [
        values_in_bins(c, m, columns, bounds, [b for b, _ in located])
        for c, m in zip(chunks, masks, strict=True)
    ]
    medians = [
        median_of([part[i] for part in found], n, before)
        for i, (n, (_, before)) in enumerate(zip(summary.present, located, strict=True))
    ]
    means = imputed_means(summary, medians)
    parts = [
        moments(
            c,
            m,
            columns=columns,
            medians=medians,
            means=means,
            vectorizer=vectorizer,
            text=contract.text_feature,
        )
        for c, m in zip(chunks, masks, strict=True)
    ]
    variances, frequencies = combine_moments(parts, summary.rows)
    return summary, (medians, means, variances), frequencies


def test_reductions_over_chunks_give_the_statistics_of_a_fit_on_every_row(tmp_path):
    contract, params = songs_contract(), small_model_params()
    frame = prepared_songs(3000, seed=3)
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, index=False, row_group_size=700)
    reference = _fitted(frame, contract, params)
    # Fitted on a sample, then given the statistics of every row.
    sample = frame.sample(400, random_state=0)
    preprocessor = _fitted(sample, contract, params)
    vectorizer = preprocessor.named_transformers_[TEXT_BLOCK]
    summary, numeric, frequencies = _statistics(path, contract, 500, vectorizer)
    apply_statistics(preprocessor, summary, numeric, frequencies)

    expected = reference.named_transformers_[NUMERIC_BLOCK]
    found = preprocessor.named_transformers_[NUMERIC_BLOCK]
    np.testing.assert_array_equal(found[0].statistics_, expected[0].statistics_)
    np.testing.assert_allclose(found[1].mean_, expected[1].mean_, rtol=1e-12)
    np.testing.assert_allclose(found[1].var_, expected[1].var_, rtol=1e-9)
    assert found[1].n_samples_seen_ == expected[1].n_samples_seen_
    categorical = [
        preprocessor.named_transformers_[CATEGORICAL_BLOCK],
        reference.named_transformers_[CATEGORICAL_BLOCK],
    ]
    np.testing.assert_array_equal(categorical[0][0].statistics_, categorical[1][0].statistics_)
    for ours, theirs in zip(
        categorical[0][1].categories_, categorical[1][1].categories_, strict=True
    ):
        np.testing.assert_array_equal(ours, theirs)
        assert ours.dtype == theirs.dtype
    # The vocabulary is the sample's; its idf counts every row, as a fit on every row would.
    text = preprocessor.named_transformers_[TEXT_BLOCK]
    documents = frame[contract.text_feature].to_numpy()
    counts = (text.transform(documents) > 0).sum(axis=0).A1
    np.testing.assert_array_equal(text.idf_, np.log((len(frame) + 1) / (counts + 1)) + 1)


def test_the_statistics_do_not_depend_on_the_chunking(tmp_path):
    contract, params = songs_contract(), small_model_params()
    frame = prepared_songs(2000, seed=4)
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, index=False, row_group_size=600)
    vectorizer = _fitted(frame.head(300), contract, params).named_transformers_[TEXT_BLOCK]
    results = [_statistics(path, contract, rows, vectorizer) for rows in (100, 333, 2000)]
    for summary, numeric, frequencies in results[1:]:
        assert summary == results[0][0]
        assert numeric == results[0][1]
        np.testing.assert_array_equal(frequencies, results[0][2])
