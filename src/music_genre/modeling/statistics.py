"""The preprocessor's statistics over every fit row, by reductions over chunks on a Dask
cluster: what the local backend's Pipeline.fit computes in one process.

- numeric block: exact medians (the imputer's), found by a histogram of each column and then
  the values of the one or two bins holding the middle rank; the imputed columns' means and
  variances (the scaler's), combined chunk by chunk (Chan et al.'s parallel formula);
- categorical block: each column's value counts: the most frequent value (the imputer's, ties
  to the smallest) and the sorted set of values (the encoder's categories);
- text block: the vocabulary is the seeded sample's (modeling.distributed); its document
  frequencies, hence its idf, come from every fit row.

The structure of the fitted preprocessor (its blocks, columns, vocabulary) comes from fitting
it on the sample; `apply_statistics` then overwrites the statistics with these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from music_genre.modeling.build import CATEGORICAL_BLOCK, NUMERIC_BLOCK, TEXT_BLOCK
from music_genre.modeling.chunks import Chunk, read_chunk

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from music_genre.data.contract import Contract

# Bins of the histogram that locates each median.
MEDIAN_BINS: Final = 4096
# Values added to ExactSums at once (their half-sums stay exact in float64).
_EXACT_BATCH: Final = 1 << 20


@dataclass
class Summary:
    """What the first pass over the fit rows finds (summed over chunks by `combine`)."""

    rows: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    # The validation rows' labels (the fields below describe the fit rows only).
    validation_labels: Counter[str] = field(default_factory=Counter)
    # Per numeric column: values present, lowest and highest.
    present: list[int] = field(default_factory=list)
    lows: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)
    # Per numeric column: the exact sum of the values present.
    sums: list[Fraction] = field(default_factory=list)
    # Per categorical column: value -> rows.
    values: list[Counter[Any]] = field(default_factory=list)


def fit_rows(chunk: Chunk, mask: Any, columns: Sequence[str]) -> pd.DataFrame:
    """The chunk's fit rows (mask False) in `columns`."""
    frame = read_chunk(chunk, columns)
    return frame[~mask].reset_index(drop=True)


def _numeric(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    import numpy as np

    return np.column_stack([frame[name].to_numpy(dtype="float64") for name in columns])


def summarize(chunk: Chunk, mask: Any, contract: Contract) -> Summary:
    """One chunk's label counts, numeric ranges and sums, categorical value counts (a task)."""
    import numpy as np

    numeric, categorical = contract.numeric_features, contract.categorical_features
    table = read_chunk(chunk, [*dict.fromkeys([*numeric, *categorical, contract.target])])
    frame = table[~mask].reset_index(drop=True)
    summary = Summary(
        rows=len(frame),
        labels=Counter(frame[contract.target].astype(str)),
        validation_labels=Counter(table[mask][contract.target].astype(str)),
    )
    for column in _numeric(frame, numeric).T if numeric else []:
        present = column[~np.isnan(column)]
        summary.present.append(len(present))
        summary.lows.append(float(present.min()) if len(present) else np.inf)
        summary.highs.append(float(present.max()) if len(present) else -np.inf)
        summary.sums.append(exact_sum(present))
    summary.values = [Counter(frame[name].dropna().tolist()) for name in categorical]
    return summary


def combine(summaries: Sequence[Summary]) -> Summary:
    """The chunks' summaries as one (exactly: the sums are exact, counts are integers)."""
    first, *rest = summaries
    total = Summary(
        first.rows,
        Counter(first.labels),
        Counter(first.validation_labels),
        list(first.present),
        list(first.lows),
        list(first.highs),
        list(first.sums),
        [Counter(values) for values in first.values],
    )
    for part in rest:
        total.rows += part.rows
        total.labels.update(part.labels)
        total.validation_labels.update(part.validation_labels)
        total.present = [a + b for a, b in zip(total.present, part.present, strict=True)]
        total.lows = [min(a, b) for a, b in zip(total.lows, part.lows, strict=True)]
        total.highs = [max(a, b) for a, b in zip(total.highs, part.highs, strict=True)]
        total.sums = [a + b for a, b in zip(total.sums, part.sums, strict=True)]
        for counter, more in zip(total.values, part.values, strict=True):
            counter.update(more)
    return total


def _bins(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Each value's histogram bin, on every worker alike (NaN: -1)."""
    import numpy as np

    if not high > low:
        index = np.zeros(len(values), dtype=np.int64)
    else:
        scaled = np.floor((values - low) / (high - low) * MEDIAN_BINS)
        index = np.clip(np.nan_to_num(scaled, nan=0), 0, MEDIAN_BINS - 1).astype(np.int64)
    index[np.isnan(values)] = -1
    return index


def bin_counts(values: np.ndarray, bounds: Sequence[tuple[float, float]]) -> np.ndarray:
    """Per column of `values`, how many of its values fall in each bin."""
    import numpy as np

    counts = np.zeros((len(bounds), MEDIAN_BINS), dtype=np.int64)
    for index, (low, high) in enumerate(bounds):
        bins = _bins(values[:, index], low, high)
        counts[index] = np.bincount(bins[bins >= 0], minlength=MEDIAN_BINS)
    return counts


def binned_values(
    values: np.ndarray, bounds: Sequence[tuple[float, float]], wanted: Sequence[Sequence[int]]
) -> list[np.ndarray]:
    """Per column of `values`, its values in the wanted bins."""
    import numpy as np

    return [
        values[:, index][np.isin(_bins(values[:, index], low, high), list(bins))]
        for index, ((low, high), bins) in enumerate(zip(bounds, wanted, strict=True))
    ]


def histogram(
    chunk: Chunk, mask: Any, columns: Sequence[str], bounds: Sequence[tuple[float, float]]
) -> np.ndarray:
    """Per numeric column, how many of the chunk's fit values fall in each bin (a task)."""
    return bin_counts(_numeric(fit_rows(chunk, mask, columns), columns), bounds)


def values_in_bins(
    chunk: Chunk,
    mask: Any,
    columns: Sequence[str],
    bounds: Sequence[tuple[float, float]],
    wanted: Sequence[Sequence[int]],
) -> list[np.ndarray]:
    """Per numeric column, the chunk's fit values in the wanted bins (a task)."""
    return binned_values(_numeric(fit_rows(chunk, mask, columns), columns), bounds, wanted)


def middle_bins(counts: np.ndarray, present: int) -> tuple[list[int], int]:
    """The bins that hold ranks (n-1)//2 and n//2 of a column's n values, and how many values
    lie in the bins before them."""
    import numpy as np

    cumulative = np.cumsum(counts)
    bins = sorted(
        {
            int(np.searchsorted(cumulative, rank, side="right"))
            for rank in ((present - 1) // 2, present // 2)
        }
    )
    before = int(cumulative[bins[0] - 1]) if bins[0] > 0 else 0
    return bins, before


def median_of(values: Sequence[np.ndarray], present: int, before: int) -> float:
    """The median (numpy's: the mean of the two middle values when n is even) from the values
    of the middle bins and the count of values below them."""
    import numpy as np

    ordered = np.sort(np.concatenate(list(values)))
    low, high = ordered[(present - 1) // 2 - before], ordered[present // 2 - before]
    return float(np.true_divide(low + high, 2.0))


class ExactSums:
    """Exact per-column sums of float64 rows added batch by batch (binary fractions), so that
    sums over chunks add up to the same number however the rows are chunked or ordered.

    Each float64 is a 53-bit integer mantissa times a power of two: mantissas are summed as
    integers per exponent, in two 26-bit halves (no int64 overflow below 2**36 rows)."""

    _HALF: Final = 26

    def __init__(self, columns: int) -> None:
        self.columns = columns
        # exponent -> (upper halves, lower halves) summed per column
        self.parts: dict[int, Any] = {}

    def add(self, values: np.ndarray) -> None:
        """Add a (rows x columns) block of finite values."""
        import numpy as np

        if not values.size:
            return
        mantissa, exponent = np.frexp(values.reshape(len(values), self.columns))
        integer = (mantissa * 2.0**53).astype(np.int64)
        lowest = int(exponent.min())
        span = int(exponent.max()) - lowest + 1
        index = ((exponent - lowest) * self.columns + np.arange(self.columns)).ravel()
        halves = (integer >> self._HALF, integer & ((1 << self._HALF) - 1))
        # A batch's half-sums stay below 2**53, exact in bincount's float64 weights.
        sums = [
            np.bincount(index, weights=half.ravel(), minlength=span * self.columns)
            .reshape(span, self.columns)
            .astype(np.int64)
            for half in halves
        ]
        for offset in np.flatnonzero(sums[0].any(axis=1) | sums[1].any(axis=1)):
            part = self.parts.setdefault(
                lowest + int(offset), np.zeros((2, self.columns), np.int64)
            )
            part[0] += sums[0][offset]
            part[1] += sums[1][offset]

    def totals(self) -> list[Fraction]:
        """Each column's exact sum."""
        totals = [Fraction(0)] * self.columns
        for power, (upper, lower) in self.parts.items():
            scale = Fraction(2) ** (power - 53)
            totals = [
                total + Fraction((int(high) << self._HALF) + int(low)) * scale
                for total, high, low in zip(totals, upper, lower, strict=True)
            ]
        return totals


def exact_sum(values: np.ndarray) -> Fraction:
    """The exact sum of the non-NaN values (ExactSums of one column)."""
    import numpy as np

    sums = ExactSums(1)
    present = values[~np.isnan(values)]
    for start in range(0, len(present), _EXACT_BATCH):
        sums.add(present[start : start + _EXACT_BATCH, None])
    return sums.totals()[0]


def imputed_means(summary: Summary, medians: Sequence[float]) -> list[float]:
    """Each numeric column's mean once its missing values are its median (correctly rounded)."""
    return [
        float((total + (summary.rows - present) * Fraction(median)) / summary.rows)
        if summary.rows
        else 0.0
        for total, present, median in zip(summary.sums, summary.present, medians, strict=True)
    ]


def moments(
    chunk: Chunk,
    mask: Any,
    *,
    columns: Sequence[str],
    medians: Sequence[float],
    means: Sequence[float],
    vectorizer: Any,
    text: str | None,
) -> tuple[list[Fraction], np.ndarray | None]:
    """The chunk's fit rows: per imputed numeric column, the exact sum of squared deviations
    from its mean; the document frequency of each vocabulary term (a task)."""
    import numpy as np

    frame = fit_rows(chunk, mask, [*columns, *([text] if text else [])])
    squares = []
    if columns:
        values = _numeric(frame, columns)
        values = np.where(np.isnan(values), np.asarray(medians, dtype="float64"), values)
        deviations = (values - np.asarray(means, dtype="float64")) ** 2
        squares = [exact_sum(column) for column in deviations.T]
    frequencies = None
    if vectorizer is not None and text is not None:
        matrix = vectorizer.transform(frame[text].to_numpy())
        frequencies = np.bincount(matrix.indices, minlength=matrix.shape[1])
    return squares, frequencies


def combine_moments(
    parts: Sequence[tuple[list[Fraction], Any]], rows: int
) -> tuple[list[float], Any]:
    """Per numeric column, the variance over all fit rows (correctly rounded); the summed
    document frequencies (None without text)."""
    squares = [
        sum(column, Fraction(0)) for column in zip(*(part[0] for part in parts), strict=True)
    ]
    found = [part[1] for part in parts if part[1] is not None]
    frequencies = sum(found[1:], found[0]) if found else None
    return [float(total / rows) if rows else 0.0 for total in squares], frequencies


def most_frequent(counts: Counter[Any]) -> Any:
    """The most frequent value; ties go to the smallest (scikit-learn's rule)."""
    top = max(counts.values())
    return min(value for value, count in counts.items() if count == top)


def apply_statistics(
    preprocessor: Any,
    summary: Summary,
    numeric: tuple[Sequence[float], Sequence[float], Sequence[float]],
    frequencies: Any,
) -> None:
    """Overwrite the sample-fitted preprocessor's statistics with those of every fit row:
    `numeric` is (medians, means, variances) of the numeric columns."""
    import numpy as np

    blocks = preprocessor.named_transformers_
    rows = summary.rows
    medians, mean, variance = numeric
    if NUMERIC_BLOCK in blocks:
        imputer, scaler = blocks[NUMERIC_BLOCK].steps[0][1], blocks[NUMERIC_BLOCK].steps[1][1]
        imputer.statistics_ = np.asarray(medians, dtype=imputer.statistics_.dtype)
        scaler.mean_ = np.asarray(mean, dtype="float64")
        scaler.var_ = np.asarray(variance, dtype="float64")
        scale = np.sqrt(scaler.var_)
        scale[scale < 10 * np.finfo(scale.dtype).eps] = 1.0
        scaler.scale_ = scale
        scaler.n_samples_seen_ = type(scaler.n_samples_seen_)(rows)
    if CATEGORICAL_BLOCK in blocks:
        imputer, encoder = (
            blocks[CATEGORICAL_BLOCK].steps[0][1],
            blocks[CATEGORICAL_BLOCK].steps[1][1],
        )
        imputer.statistics_ = np.asarray(
            [most_frequent(counts) for counts in summary.values], dtype=imputer.statistics_.dtype
        )
        encoder.categories_ = [
            np.asarray(sorted(counts), dtype=old.dtype)
            for counts, old in zip(summary.values, encoder.categories_, strict=True)
        ]
    if TEXT_BLOCK in blocks:
        # scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1.
        blocks[TEXT_BLOCK].idf_ = np.log((rows + 1) / (frequencies + 1)) + 1
