"""A deterministic generator of tables that follow the contract, for tests and benchmarks.

Two sources of shape:
- a spec (`music-genre synthetic-spec` writes it; params.yaml's data.synthetic_spec names it):
  per-class statistics of a real table (quantiles, category frequencies, missing fractions),
  statistics only, never rows. Each class's columns are sampled independently from its profile,
  so the table looks like the real one without it.
- the contract alone: numeric columns within their range (a plausible spread when unbounded),
  categorical columns from their `values` or small integer range, about a tenth of each
  nullable column missing, each class shifted a little so that a model has something to learn.
Either way, text is made-up words, some specific to each class, so the TF-IDF block carries
signal, and a few rows are duplicated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from music_genre.core.errors import DataSourceError
from music_genre.core.fileio import write_parquet
from music_genre.data.profile import build_profile, quantile_levels

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.data.contract import ColumnSpec, Contract

SPEC_QUANTILES: Final = 41
# From the contract alone: the share of rows duplicated and of a nullable column left missing.
DUPLICATE_FRACTION: Final = 0.02
MISSING_FRACTION: Final = 0.1
# A categorical integer column with at most this many values in its range is drawn from them.
MAX_INTEGER_CATEGORIES: Final = 100
_SHARED_WORDS: Final = tuple(f"common{index}" for index in range(40))
_CLASS_WORDS: Final = 25
_MADE_UP_CATEGORIES: Final = 5


def build_spec(frame: pd.DataFrame, contract: Contract) -> dict[str, Any]:
    """Summarise a real table into the generator's spec (statistics only, no rows).

    `constants` holds the value of each string column outside the profile that has only one.
    """
    groups = frame.groupby(contract.target, sort=True)
    described = {*contract.category_columns, *contract.profiled_columns, *contract.text_columns}
    constants = {
        column: str(frame[column].dropna().iloc[0])
        for column, dtype in contract.raw_dtypes.items()
        if dtype == "str" and column not in described and frame[column].nunique() == 1
    }
    return {
        "duplicate_fraction": round(float(frame.duplicated().mean()), 6),
        "classes": {
            str(label): {
                "weight": round(len(group) / len(frame), 6),
                **build_profile(group, SPEC_QUANTILES, contract, digits=6),
            }
            for label, group in groups
        },
        "constants": constants,
    }


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a spec file; a missing or malformed one is one line naming the file."""
    source = Path(path)
    try:
        spec = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataSourceError(
            f"{source}: synthetic spec not found (params.yaml data.synthetic_spec)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataSourceError(f"{source}: not valid JSON ({error})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("classes"), dict):
        raise DataSourceError(f"{source}: not a synthetic spec (expected a `classes` mapping)")
    return spec


def generate(
    n_rows: int, seed: int, contract: Contract, spec: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """`n_rows` rows of the contract's raw table, the same for the same seed (and spec)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    if spec is None:
        labels = list(contract.classes)
        weights = np.ones(len(labels))
        duplicate_fraction = DUPLICATE_FRACTION
    else:
        labels = sorted(spec["classes"])
        weights = np.array([spec["classes"][label]["weight"] for label in labels])
        duplicate_fraction = spec["duplicate_fraction"]
    n_duplicates = round(n_rows * duplicate_fraction) if n_rows > 1 else 0
    counts = rng.multinomial(n_rows - n_duplicates, weights / weights.sum())
    parts = [
        (
            _class_from_spec(index, label, count, spec=spec, contract=contract, rng=rng)
            if spec is not None
            else _class_from_contract(index, label, count, contract, rng)
        )
        for index, (label, count) in enumerate(zip(labels, counts, strict=True))
        if count
    ]
    unique = pd.concat(parts, ignore_index=True)
    copies = unique.iloc[rng.integers(0, len(unique), n_duplicates)]
    table = pd.concat([unique, copies], ignore_index=True)
    return table.iloc[rng.permutation(len(table))].reset_index(drop=True)


def _class_from_spec(
    index: int,
    label: str,
    count: int,
    *,
    spec: Mapping[str, Any],
    contract: Contract,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One class's rows, each column drawn from the class's profile in the spec."""
    import pandas as pd

    profile = spec["classes"][label]
    constants = spec.get("constants", {})
    columns: dict[str, Any] = {}
    for column in contract.raw_dtypes:
        if column in profile["categorical"]:
            columns[column] = _sample_categories(profile["categorical"][column], count, rng)
        elif column in profile["numeric"]:
            columns[column] = _sample_quantiles(profile["numeric"][column], count, rng)
        elif column in contract.text_columns:
            columns[column] = _sample_text(index, count, rng)
        elif column in constants:
            columns[column] = np.full(count, constants[column], dtype=object)
        else:
            spread = _ClassSpread(index, contract, rng)
            columns[column] = spread.sample(column, contract.columns[column], count)
    frame = pd.DataFrame(columns)
    frame[contract.target] = label
    for column, dtype in contract.raw_dtypes.items():
        frame[column] = _as_dtype(frame[column], dtype)
        missing = rng.random(count) < profile["missing_fraction"].get(column, 0.0)
        if missing.any():
            frame[column] = frame[column].mask(missing)
    return frame


def _class_from_contract(
    index: int, label: str, count: int, contract: Contract, rng: np.random.Generator
) -> pd.DataFrame:
    """One class's rows from the contract alone: each column shifted a little for the class."""
    import pandas as pd

    spread = _ClassSpread(index, contract, rng)
    columns: dict[str, Any] = {}
    for column, spec in contract.columns.items():
        if column == contract.target:
            columns[column] = np.full(count, label, dtype=object)
        elif column in contract.text_columns:
            columns[column] = _sample_text(index, count, rng)
        else:
            columns[column] = spread.sample(column, spec, count)
    frame = pd.DataFrame(columns)
    for column, spec in contract.columns.items():
        frame[column] = _as_dtype(frame[column], spec.dtype)
        # A missing value turns an int64 or bool column into another dtype: left complete.
        if spec.nullable and spec.dtype in ("float64", "str"):
            missing = rng.random(count) < MISSING_FRACTION
            if missing.any():
                frame[column] = frame[column].mask(missing)
    return frame


class _ClassSpread:
    """Draws one class's values of a column, centred differently for each class."""

    def __init__(self, index: int, contract: Contract, rng: np.random.Generator) -> None:
        self.index = index
        self.n_classes = max(len(contract.classes), 1)
        self.rng = rng

    def sample(self, column: str, spec: ColumnSpec, count: int) -> np.ndarray:
        if spec.values is not None:
            return self._choose(np.array(spec.values, dtype=object), count)
        if spec.dtype == "bool":
            return self.rng.random(count) < self._centre()
        if spec.dtype == "str":
            made_up = [f"{column}_{index}" for index in range(_MADE_UP_CATEGORIES)]
            return self._choose(np.array(made_up, dtype=object), count)
        low, high = spec.range if spec.range is not None else (None, None)
        if (
            spec.dtype == "int64"
            and spec.role != "numeric"
            and low is not None
            and high is not None
            and high - low < MAX_INTEGER_CATEGORIES
        ):
            return self._choose(np.arange(int(low), int(high) + 1), count)
        return self._numbers(low, high, integer=spec.dtype == "int64", count=count)

    def _centre(self) -> float:
        # Classes spread evenly over [0.2, 0.8] of the span, jittered by the seed.
        even = 0.2 + 0.6 * (self.index + 0.5) / self.n_classes
        return float(np.clip(even + self.rng.normal(0.0, 0.05), 0.05, 0.95))

    def _choose(self, values: np.ndarray, count: int) -> np.ndarray:
        # Shares differ per class: a Dirichlet draw, favouring the class's own value a little.
        shares = self.rng.dirichlet(np.ones(len(values)))
        shares[self.index % len(values)] += 0.5
        return values[self.rng.choice(len(values), size=count, p=shares / shares.sum())]

    def _numbers(
        self, low: float | None, high: float | None, *, integer: bool, count: int
    ) -> np.ndarray:
        # Unbounded: a nominal span of [0, 1] (floats) or [0, 100] (integers), never clipped.
        start = 0.0 if low is None else float(low)
        nominal = 100.0 if integer else 1.0
        span = float(high) - start if high is not None else nominal
        values = start + span * self.rng.normal(self._centre(), 0.15, count)
        if low is not None and high is not None:
            values = np.clip(values, float(low), float(high))
        elif low is not None:
            values = np.maximum(values, float(low))
        elif high is not None:
            values = np.minimum(values, float(high))
        return np.round(values) if integer else values


def _as_dtype(values: pd.Series, dtype: str) -> pd.Series:
    import pandas as pd

    if dtype == "int64":
        values = pd.to_numeric(values).round()
    elif dtype == "bool" and values.dtype == object:
        values = values.map(lambda value: value in (True, "True", "true", 1, "1"))
    return values.astype(dtype)


def _sample_categories(
    shares: dict[str, float], count: int, rng: np.random.Generator
) -> np.ndarray:
    values = list(shares)
    probabilities = np.array([shares[value] for value in values])
    chosen = rng.choice(len(values), size=count, p=probabilities / probabilities.sum())
    return np.array(values, dtype=object)[chosen]


def _sample_quantiles(quantiles: list[float], count: int, rng: np.random.Generator) -> np.ndarray:
    # Inverse-CDF sampling from the profile's quantiles, linearly interpolated.
    levels = quantile_levels(len(quantiles))
    return np.interp(rng.random(count), levels, np.asarray(quantiles))


def _sample_text(class_index: int, count: int, rng: np.random.Generator) -> np.ndarray:
    own = np.array([f"g{class_index}word{index}" for index in range(_CLASS_WORDS)], dtype=object)
    shared = np.array(_SHARED_WORDS, dtype=object)
    first = own[rng.integers(0, len(own), count)]
    second = shared[rng.integers(0, len(shared), count)]
    take_own = rng.random(count) < 0.6
    return np.where(take_own, first, second) + " " + second


def write_synthetic_table(
    n_rows: int,
    seed: int,
    output: str | os.PathLike[str],
    contract: Contract,
    spec_path: str | os.PathLike[str] | None = None,
) -> None:
    """Generate the table (from the spec file if one is named, else the contract) and write it."""
    spec = load_spec(spec_path) if spec_path is not None else None
    write_parquet(generate(n_rows, seed, contract, spec), output)
