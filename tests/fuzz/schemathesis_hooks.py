"""Schemathesis hooks for the fuzz test (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document describes a text/csv body by its rows (objects, like the JSON forms);
this serializer writes them as CSV with a header row. CSV has no types, so a generated case whose
only violation is a JSON type (the string "120" as a number, the number 5 as a text) cannot be
written distinctly: such CSV cases are dropped here and left to the JSON forms, which carry types.
The column types are the served contract's: $MUSIC_GENRE_CONTRACT, else the project's
contract.yaml (the one the fuzzed model was trained under).
"""

from __future__ import annotations

import csv
import io
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import schemathesis

from music_genre.data.contract import CONTRACT_ENV, Contract, load_contract

CSV = "text/csv"
PROJECT_CONTRACT = Path(__file__).resolve().parents[2] / "contract.yaml"


@cache
def _contract() -> Contract:
    return load_contract(os.environ.get(CONTRACT_ENV) or PROJECT_CONTRACT)


@schemathesis.serializer(CSV)
def to_csv(_context: Any, value: Any) -> bytes:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        return json.dumps(value).encode()  # not rows at all: sent as it is, to be rejected
    header: list[str] = []
    for row in value:
        header += [name for name in row if name not in header]
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n" rows: a \r or \n inside a value gets quoted
    writer.writerow(header)
    for row in value:
        writer.writerow(["" if row.get(name) is None else _cell(row[name]) for name in header])
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _typed_only_in_json(value: Any, column: str) -> bool:
    if value is None:
        return False
    dtype = _contract().columns[column].dtype
    if dtype == "str":
        return not isinstance(value, str)
    if dtype == "bool":
        return not isinstance(value, bool)
    return isinstance(value, str)


@schemathesis.hook
def filter_case(_context: Any, case: Any) -> bool:
    if case.media_type != CSV or not isinstance(case.body, list):
        return True
    return not any(
        _typed_only_in_json(row.get(column), column)
        for row in case.body
        if isinstance(row, dict)
        for column in _contract().input_columns
    )
