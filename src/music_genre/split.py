"""Seeded, stratified splits (segregate's train/test and train's train/validation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from music_genre.errors import DataValidationError
from music_genre.features import TARGET

if TYPE_CHECKING:
    import pandas as pd


def stratified_split(
    frame: pd.DataFrame, test_size: float, seed: int, what: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `frame` into (rest, held-out) with every genre in the same proportion in both."""
    from sklearn.model_selection import train_test_split

    counts = frame[TARGET].value_counts()
    too_small = counts[counts < 2]
    if len(too_small):
        raise DataValidationError(
            f"column '{TARGET}': genre '{too_small.index[0]}' has {too_small.iloc[0]} row(s); "
            f"a stratified {what} split needs at least 2 per genre"
        )
    try:
        rest, held_out = train_test_split(
            frame, test_size=test_size, stratify=frame[TARGET], random_state=seed
        )
    except ValueError as error:
        raise DataValidationError(
            f"column '{TARGET}': cannot make a stratified {what} split of {len(frame)} rows "
            f"with {what}_size={test_size} ({error})"
        ) from None
    return rest.reset_index(drop=True), held_out.reset_index(drop=True)


def segregate_file(
    table_path: str,
    check_report_path: str,
    train_path: str,
    test_path: str,
    *,
    test_size: float,
    seed: int,
) -> None:
    """Split the checked table; refuse if check_data's report does not say it passed."""
    from music_genre.fileio import read_json, read_parquet, write_parquet

    report = read_json(check_report_path)
    if not isinstance(report, dict) or report.get("passed") is not True:
        raise DataValidationError(
            f"{check_report_path}: the data checks did not pass; fix the data and run check_data"
        )
    frame = read_parquet(table_path, columns=[TARGET])
    train, test = stratified_split(frame, test_size, seed)
    write_parquet(train, train_path)
    write_parquet(test, test_path)
