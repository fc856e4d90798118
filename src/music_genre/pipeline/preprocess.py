"""Clean the raw table: drop duplicate songs, fill missing text, derive the text feature."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from music_genre.data.features import TEXT_COLUMNS, TEXT_FEATURE, compose_text

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def add_text_feature(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill missing title/song_name with '' and add text_feature = title + ' ' + song_name.

    Serving calls this too, so a request's text is prepared exactly as in training.
    Assignment (not `fillna(inplace=True)` on a column) is what works under copy-on-write.
    """
    filled = {column: frame[column].fillna("").astype("str") for column in TEXT_COLUMNS}
    title, song_name = (filled[column] for column in TEXT_COLUMNS)
    return frame.assign(**filled, **{TEXT_FEATURE: compose_text(title, song_name)})


def preprocess(raw: pd.DataFrame) -> pd.DataFrame:
    deduplicated = raw.drop_duplicates(ignore_index=True)
    return add_text_feature(deduplicated)


def preprocess_file(raw_path: str, output_path: str) -> None:
    from music_genre.core.fileio import read_parquet, write_parquet

    raw = read_parquet(raw_path, columns=TEXT_COLUMNS)
    prepared = preprocess(raw)
    log.info(
        "%d rows in, %d duplicate rows dropped, %d rows out",
        len(raw),
        len(raw) - len(prepared),
        len(prepared),
    )
    write_parquet(prepared, output_path)
