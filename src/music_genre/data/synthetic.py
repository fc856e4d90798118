"""A deterministic generator of songs tables with the real table's schema and per-genre shape.

It samples each genre's columns independently from that genre's profile (quantiles, category
frequencies, missing fractions) in `synthetic_spec.json`, a statistics-only summary of the real
data, so tests and scale benchmarks run without the real file. Text is made-up words, some
specific to a genre, so the TF-IDF block carries signal as it does on the real table.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from music_genre.core.fileio import write_parquet
from music_genre.data.features import RAW_DTYPES, TARGET, TEXT_COLUMNS
from music_genre.data.profile import build_profile, quantile_levels

if TYPE_CHECKING:
    import pandas as pd

SPEC_RESOURCE = "synthetic_spec.json"
SPEC_QUANTILES = 41
_SHARED_WORDS = tuple(f"common{index}" for index in range(40))
_GENRE_WORDS = 25


def build_spec(frame: pd.DataFrame) -> dict[str, Any]:
    """Summarise a real table into the generator's spec (statistics only, no rows)."""
    groups = frame.groupby(TARGET, sort=True)
    return {
        "duplicate_fraction": round(float(frame.duplicated().mean()), 6),
        "genres": {
            str(genre): {
                "weight": round(len(group) / len(frame), 6),
                **build_profile(group, SPEC_QUANTILES, digits=6),
            }
            for genre, group in groups
        },
    }


@cache
def load_spec() -> dict[str, Any]:
    text = resources.files("music_genre.data").joinpath(SPEC_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def generate(n_rows: int, seed: int, spec: dict[str, Any] | None = None) -> pd.DataFrame:
    import pandas as pd

    spec = spec or load_spec()
    rng = np.random.default_rng(seed)
    genres = sorted(spec["genres"])
    weights = np.array([spec["genres"][genre]["weight"] for genre in genres])
    n_duplicates = round(n_rows * spec["duplicate_fraction"]) if n_rows > 1 else 0
    counts = rng.multinomial(n_rows - n_duplicates, weights / weights.sum())
    parts = [
        _generate_genre(genre_index, genre, spec["genres"][genre], count, rng)
        for genre_index, (genre, count) in enumerate(zip(genres, counts, strict=True))
        if count
    ]
    unique = pd.concat(parts, ignore_index=True)
    copies = unique.iloc[rng.integers(0, len(unique), n_duplicates)]
    table = pd.concat([unique, copies], ignore_index=True)
    return table.iloc[rng.permutation(len(table))].reset_index(drop=True)


def _generate_genre(
    genre_index: int, genre: str, profile: dict[str, Any], count: int, rng: np.random.Generator
) -> pd.DataFrame:
    import pandas as pd

    columns: dict[str, Any] = {}
    for column, dtype in RAW_DTYPES.items():
        if column in profile["categorical"]:
            columns[column] = _sample_categories(profile["categorical"][column], count, rng)
        elif column in profile["numeric"]:
            columns[column] = _sample_quantiles(profile["numeric"][column], count, rng)
        elif column in TEXT_COLUMNS:
            columns[column] = _sample_text(genre_index, count, rng)
        elif dtype == "str":
            columns[column] = np.full(count, "audio_features", dtype=object)
    frame = pd.DataFrame(columns)
    frame[TARGET] = genre
    for column, dtype in RAW_DTYPES.items():
        values = frame[column]
        if dtype == "int64":
            values = pd.to_numeric(values).round()
        frame[column] = values.astype(dtype)
        missing = rng.random(count) < profile["missing_fraction"].get(column, 0.0)
        if missing.any():
            frame[column] = frame[column].mask(missing)
    return frame


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


def _sample_text(genre_index: int, count: int, rng: np.random.Generator) -> np.ndarray:
    own = np.array([f"g{genre_index}word{index}" for index in range(_GENRE_WORDS)], dtype=object)
    shared = np.array(_SHARED_WORDS, dtype=object)
    first = own[rng.integers(0, len(own), count)]
    second = shared[rng.integers(0, len(shared), count)]
    take_own = rng.random(count) < 0.6
    return np.where(take_own, first, second) + " " + second


def write_synthetic_table(n_rows: int, seed: int, output: str | os.PathLike[str]) -> None:
    write_parquet(generate(n_rows, seed), output)
