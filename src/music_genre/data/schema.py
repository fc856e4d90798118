"""The pandera schema of the preprocessed table, derived from the contract.

Each declared column gets its dtype, `in_range` for a declared range, `isin` for declared
values (the target's are its classes) and not-null unless it is nullable; the text feature is a
string column. Extra columns are allowed (carried along, never used), duplicate rows are not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandera.pandas as pa

if TYPE_CHECKING:
    from music_genre.data.contract import Contract


def _column(name: str, dtype: str, contract: Contract) -> pa.Column:
    checks = []
    if name in contract.value_ranges:
        low, high = contract.value_ranges[name]
        checks.append(pa.Check.in_range(low, high))
    spec = contract.columns.get(name)
    if spec is not None and spec.values is not None:
        checks.append(pa.Check.isin(spec.values))
    return pa.Column(dtype, checks=checks, nullable=name in contract.nullable_columns)


def preprocessed_schema(contract: Contract) -> pa.DataFrameSchema:
    """Schema of preprocess's output."""
    columns = {name: _column(name, dtype, contract) for name, dtype in contract.raw_dtypes.items()}
    if contract.text_feature is not None:
        columns[contract.text_feature] = _column(contract.text_feature, "str", contract)
    return pa.DataFrameSchema(
        columns,
        strict=False,
        unique=list(columns),
        report_duplicates="exclude_first",
        name=f"preprocessed {contract.name}",
    )
