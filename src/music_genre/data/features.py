"""The columns of the songs table and the features the model uses: the one place they are named."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, overload

if TYPE_CHECKING:
    import pandas as pd

TARGET: Final = "genre"

NUMERIC_FEATURES: Final = (
    "danceability",
    "energy",
    "loudness",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
)
CATEGORICAL_FEATURES: Final = ("key", "time_signature")
TEXT_COLUMNS: Final = ("title", "song_name")
TEXT_FEATURE: Final = "text_feature"
TEXT_SEPARATOR: Final = " "

# What the model reads: everything else in the table is carried along but ignored.
MODEL_INPUT_COLUMNS: Final = (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES, TEXT_FEATURE)

# The raw table as published: column -> pandas dtype name (pandas 3 reads parquet strings as "str").
RAW_DTYPES: Final = {
    "danceability": "float64",
    "energy": "float64",
    "key": "int64",
    "loudness": "float64",
    "mode": "int64",
    "speechiness": "float64",
    "acousticness": "float64",
    "instrumentalness": "float64",
    "liveness": "float64",
    "valence": "float64",
    "tempo": "float64",
    "type": "str",
    "duration_ms": "int64",
    "time_signature": "int64",
    "genre": "str",
    "song_name": "str",
    "title": "str",
}
RAW_COLUMNS: Final = tuple(RAW_DTYPES)

# Columns that the published data leaves empty for some songs (imputed, never required).
OPTIONAL_COLUMNS: Final = ("loudness", *TEXT_COLUMNS)

# Columns whose value frequencies are profiled (small, closed sets of values).
CATEGORY_COLUMNS: Final = (*CATEGORICAL_FEATURES, "mode", TARGET)

# What a caller of the model must send for each song; OPTIONAL_COLUMNS may be null or absent.
REQUIRED_INPUT_COLUMNS: Final = tuple(
    name for name in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES) if name not in OPTIONAL_COLUMNS
)

# Numeric columns whose distribution is profiled and checked for drift.
PROFILED_COLUMNS: Final = tuple(
    name for name, dtype in RAW_DTYPES.items() if dtype in ("float64", "int64")
)

# A track is the recording: its audio-feature vector (the table has no track id; `title` is the
# playlist it was listed in). A table with a TRACK_ID_COLUMN is grouped by that instead.
TRACK_COLUMNS: Final = PROFILED_COLUMNS
TRACK_ID_COLUMN: Final = "track_id"


@overload
def compose_text(title: str, song_name: str) -> str: ...
@overload
def compose_text(title: pd.Series, song_name: pd.Series) -> pd.Series: ...
def compose_text(title: Any, song_name: Any) -> Any:
    """TEXT_FEATURE: title + ' ' + song_name, the text the model reads, made in one place for
    the table (pandas string columns, missing values already '') and for one song (strings)."""
    return title + TEXT_SEPARATOR + song_name
