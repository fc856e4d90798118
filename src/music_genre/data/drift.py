"""Drift of a column against the reference: one definition, used by the pipeline's data check
(check_data) and by the server's live monitor (serving.monitoring).

The reference profile's n quantiles of a column act as an evenly weighted pseudo-sample of it
(profile.quantile_levels). Its deciles cut the column into at most DRIFT_BINS bins — fewer where
quantiles tie, as for a column that is mostly zeros — and a bin's reference share is the share of
the pseudo-sample that falls into it. Values are counted into the same bins, and the population
stability index (PSI) compares the two sets of shares:

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

0 for identical shares; conventionally < 0.1 is "no shift", 0.1-0.25 "moderate", > 0.25 "large".
Categories (a predicted class) are bins of their own and use the same `psi`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

DRIFT_BINS: Final = 10
# An empty bin counts as this share, so the logarithm stays finite.
SHARE_FLOOR: Final = 1e-4
# The false-alarm probability behind `min_count`.
FALSE_ALARM: Final = 0.001
# The bin code of a missing (NaN) value: in no bin.
MISSING_BIN: Final = -1


@dataclass(frozen=True)
class Bins:
    """Bins of a numeric column: inner edges (increasing) and each bin's reference share."""

    edges: np.ndarray
    expected: np.ndarray

    def index(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value (a value equal to an edge belongs to the bin right of it)."""
        return np.searchsorted(self.edges, values, side="right")

    def codes(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value, as `index` gives it, and MISSING_BIN for a NaN (missing) one."""
        values = np.asarray(values, dtype=float)
        return np.where(np.isnan(values), MISSING_BIN, self.index(values))

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many of `values` fall into each bin; NaN (missing) values are not counted."""
        values = np.asarray(values, dtype=float)
        present = values[~np.isnan(values)]
        return np.bincount(self.index(present), minlength=len(self.expected))


def bins_from_quantiles(quantiles: ArrayLike, bins: int = DRIFT_BINS) -> Bins:
    """Equal-mass bins of the profile's pseudo-sample; bins it leaves empty are merged away."""
    sample = np.asarray(quantiles, dtype=float)
    if sample.size == 0:
        raise ValueError("a profile with no quantiles has no bins")
    edges = np.unique(np.quantile(sample, np.arange(1, bins) / bins))
    while True:
        counts = np.bincount(np.searchsorted(edges, sample, side="right"), minlength=len(edges) + 1)
        empty = np.flatnonzero(counts == 0)
        if not empty.size:
            return Bins(edges, counts / sample.size)
        # An empty bin i lies between edges i-1 and i: dropping edge i (or the last edge for the
        # last bin) merges it into a neighbour without moving any other boundary.
        edges = np.delete(edges, min(int(empty[0]), len(edges) - 1))


def psi(counts: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray) -> float:
    """Population stability index of observed bin counts against the expected shares."""
    observed = np.asarray(counts, dtype=float)
    total = observed.sum()
    if total <= 0:
        return 0.0
    actual = np.maximum(observed / total, SHARE_FLOOR)
    reference = np.maximum(np.asarray(expected, dtype=float), SHARE_FLOOR)
    return float(np.sum((actual - reference) * np.log(actual / reference)))


def min_count(n_bins: int, threshold: float, false_alarm: float = FALSE_ALARM) -> int:
    """How many values it takes before a PSI above `threshold` means drift, not chance.

    For n values drawn from the reference itself, n * PSI is approximately chi-squared with
    n_bins - 1 degrees of freedom (PSI is a symmetric Kullback-Leibler divergence, whose
    second-order term is Pearson's chi-squared statistic over n). Below the count returned, an
    undrifted stream would exceed the threshold by chance more often than `false_alarm`.
    """
    from scipy import stats

    if n_bins < 2:
        return 1
    return math.ceil(float(stats.chi2.ppf(1 - false_alarm, n_bins - 1)) / threshold)
