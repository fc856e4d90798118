import numpy as np
import pytest

from music_genre.data.drift import DRIFT_BINS, bins_from_quantiles, min_count, psi
from music_genre.data.profile import build_profile, quantile_levels
from music_genre.pipeline.check_data import drift_tests
from support.data import songs_contract


def test_deciles_of_the_profile_make_equal_mass_bins():
    bins = bins_from_quantiles(np.quantile(np.arange(10_000.0), quantile_levels(1000)))
    assert len(bins.expected) == DRIFT_BINS
    assert bins.expected == pytest.approx(np.full(DRIFT_BINS, 0.1))
    assert bins.counts(np.arange(10_000.0)) == pytest.approx(np.full(DRIFT_BINS, 1000), abs=5)


def test_tied_quantiles_merge_bins_and_no_bin_is_empty():
    # instrumentalness-like: 60% exact zeros, then a spread.
    quantiles = np.concatenate([np.zeros(600), np.linspace(0.01, 1.0, 400)])
    bins = bins_from_quantiles(quantiles)
    assert (bins.expected > 0).all()
    assert bins.expected.sum() == pytest.approx(1.0)
    assert bins.expected[0] == pytest.approx(0.6)  # every zero in one bin
    assert len(bins.expected) == 5


def test_missing_values_are_not_counted():
    bins = bins_from_quantiles(np.linspace(0, 1, 100))
    assert bins.counts(np.array([0.5, np.nan, np.nan])).sum() == 1


def test_psi_is_zero_for_the_reference_and_grows_with_the_shift():
    expected = np.full(10, 0.1)
    assert psi(np.full(10, 37), expected) == pytest.approx(0.0)
    small = psi([12, 8, 10, 10, 10, 10, 10, 10, 10, 10], expected)
    large = psi([30, 0, 10, 10, 10, 10, 10, 10, 10, 0], expected)
    assert 0 < small < 0.1 < large
    assert psi([0] * 10, expected) == 0.0  # nothing counted yet


def test_min_count_keeps_chance_below_the_false_alarm_rate():
    # 9 degrees of freedom: the chi-squared 99.9th percentile is 27.88.
    assert min_count(10, 0.1) == 279
    rng = np.random.default_rng(0)
    expected = np.full(10, 0.1)
    n = min_count(10, 0.1)
    alarms = sum(psi(rng.multinomial(n, expected), expected) > 0.1 for _ in range(2000))
    assert alarms / 2000 < 0.01


def test_check_data_reports_the_same_psi_the_server_computes(synthetic_prepared):
    reference = synthetic_prepared.sample(frac=0.5, random_state=0)
    profile = build_profile(reference, 200, songs_contract())
    shifted = synthetic_prepared.assign(tempo=synthetic_prepared["tempo"] + 30)
    drift = drift_tests(shifted, profile, 0.05, songs_contract())
    report = {row["column"]: row for row in drift["columns"]}
    bins = bins_from_quantiles(profile["numeric"]["tempo"])
    values = shifted["tempo"].dropna().to_numpy(dtype=float)
    assert report["tempo"]["psi"] == pytest.approx(psi(bins.counts(values), bins.expected))
    assert report["tempo"]["psi"] > 0.25 > report["energy"]["psi"]


def test_bin_codes_are_the_bins_with_missing_values_in_none():
    """The server's live window codes values as check_data bins them."""
    from music_genre.data.drift import MISSING_BIN

    bins = bins_from_quantiles(np.linspace(0, 1, 100))
    values = np.array([0.05, np.nan, 0.5, 1.0, np.nan, bins.edges[3]])
    codes = bins.codes(values)
    present = ~np.isnan(values)
    assert codes[~present].tolist() == [MISSING_BIN] * 2
    assert codes[present].tolist() == bins.index(values[present]).tolist()
    counted = np.bincount(codes[codes != MISSING_BIN], minlength=len(bins.expected))
    assert counted.tolist() == bins.counts(values).tolist()
