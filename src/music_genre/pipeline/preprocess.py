"""Clean the raw table: drop duplicate rows, fill missing text, derive the text feature.

The contract says which columns are text and how they compose the text feature
(Contract.with_text_feature, which serving uses too); a contract without text leaves the
deduplicated table as it is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.data.contract import Contract

log = logging.getLogger(__name__)


def preprocess(raw: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    deduplicated = raw.drop_duplicates(ignore_index=True)
    # Text columns as strings whatever the file stored (an all-missing column reads as object).
    text = {column: deduplicated[column].astype("str") for column in contract.text_columns}
    return contract.with_text_feature(deduplicated.assign(**text))


def preprocess_file(raw_path: str, output_path: str, contract: Contract) -> None:
    from music_genre.core.fileio import read_parquet, write_parquet

    raw = read_parquet(raw_path, columns=contract.text_columns)
    prepared = preprocess(raw, contract)
    log.info(
        "%d rows in, %d duplicate rows dropped, %d rows out",
        len(raw),
        len(raw) - len(prepared),
        len(prepared),
    )
    write_parquet(prepared, output_path)
