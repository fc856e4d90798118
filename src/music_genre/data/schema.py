"""The pandera schema of the preprocessed songs table: the one place its rules are written."""

from __future__ import annotations

from typing import Final

import pandera.pandas as pa

from music_genre.data.features import RAW_DTYPES, TARGET, TEXT_FEATURE
from music_genre.data.genres import GENRES

# Inclusive value ranges (the original boilerplate's data tests).
VALUE_RANGES: Final = {
    "danceability": (0.0, 1.0),
    "energy": (0.0, 1.0),
    "speechiness": (0.0, 1.0),
    "acousticness": (0.0, 1.0),
    "instrumentalness": (0.0, 1.0),
    "liveness": (0.0, 1.0),
    "valence": (0.0, 1.0),
    "loudness": (-35.0, 5.0),
    "tempo": (50.0, 250.0),
    "duration_ms": (20_000, 1_000_000),
    "key": (0, 11),
    "time_signature": (1, 5),
    "mode": (0, 1),
}
# Missing in the published data, imputed by the model. Text columns are filled by preprocess.
NULLABLE_COLUMNS: Final = frozenset({"loudness"})


def _column(name: str, dtype: str) -> pa.Column:
    checks = []
    if name in VALUE_RANGES:
        low, high = VALUE_RANGES[name]
        checks.append(pa.Check.in_range(low, high))
    if name == TARGET:
        checks.append(pa.Check.isin(GENRES))
    return pa.Column(dtype, checks=checks, nullable=name in NULLABLE_COLUMNS)


def preprocessed_schema() -> pa.DataFrameSchema:
    """Schema of preprocess's output. Extra columns are allowed (carried along, never used)."""
    columns = {name: _column(name, dtype) for name, dtype in RAW_DTYPES.items()}
    columns[TEXT_FEATURE] = _column(TEXT_FEATURE, "str")
    return pa.DataFrameSchema(
        columns,
        strict=False,
        unique=list(columns),
        report_duplicates="exclude_first",
        name="preprocessed songs",
    )
