"""segregate: the seeded train/test split of the checked table, stratified by the target and
grouped by the contract's entity (params.yaml segregate.group_by)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from music_genre.core.errors import DataValidationError
from music_genre.core.fileio import read_json, read_parquet, write_json, write_parquet
from music_genre.data.splits import check_group_by, split_by, split_report

if TYPE_CHECKING:
    from music_genre.data.contract import Contract


def segregate_file(
    table_path: str,
    check_report_path: str,
    train_path: str,
    test_path: str,
    report_path: str,
    *,
    test_size: float,
    seed: int,
    group_by: str,
    contract: Contract,
) -> dict[str, Any]:
    """Split the checked table; refuse if check_data's report does not say it passed.

    Writes what the split achieved (split_report) to `report_path`.
    """
    check_group_by(group_by, contract)
    report = read_json(check_report_path)
    if not isinstance(report, dict) or report.get("passed") is not True:
        raise DataValidationError(
            f"{check_report_path}: the data checks did not pass; fix the data and run check_data"
        )
    frame = read_parquet(table_path, columns=[contract.target])
    train, test = split_by(frame, contract, group_by, test_size, seed)
    achieved = split_report(train, test, contract, group_by)
    write_parquet(train, train_path)
    write_parquet(test, test_path)
    write_json(achieved, report_path)
    return achieved
