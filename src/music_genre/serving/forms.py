"""The MLflow scoring server's input forms (POST /invocations), read into validated rows.

`{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`, `{"dataframe_records": [...]}`,
`{"instances": [...]}`, `{"inputs": [...]}` and text/csv with a header row (pandas
`to_csv(index=False)`); columns other than the contract's input columns are ignored, as MLflow
does. Every row is held to the row models of serving.inputs.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from music_genre.serving.inputs import InputError, RowInputs, cap_message, one_line

MLFLOW_JSON_FORMATS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")
# Where the MLflow forms are served (named in the error of a request over the cap).
INVOCATIONS_ROUTE: Final = "/invocations"
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


class DataframeSplit(BaseModel):
    """pandas `to_json(orient="split")`: column names, then one list of values per row."""

    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(
        min_length=1,
        description="Every required input column; optional ones and other columns may be added.",
    )
    data: list[list[Any]] = Field(min_length=1, description="Rows, one value per column.")
    index: list[Any] = Field(default_factory=list, description="Row labels (ignored).")


def dataframe_split_schema(inputs: RowInputs, max_rows: int) -> dict[str, Any]:
    """The JSON schema of a dataframe_split body, written for the input columns in their order.

    The server also takes the columns in any order, with optional ones left out and other
    columns of the table added (ignored); JSON Schema cannot tie a row's values to column
    names given at run time, so the document shows the one order it can describe exactly.
    """
    fields = inputs.record.model_json_schema()["properties"]
    cells = [
        {key: value for key, value in fields[name].items() if key not in ("title", "default")}
        for name in inputs.columns
    ]
    width = len(inputs.columns)
    return {
        "type": "object",
        "title": "DataframeSplit",
        "description": DataframeSplit.__doc__,
        "additionalProperties": False,
        "required": ["columns", "data"],
        "properties": {
            "columns": {
                "const": list(inputs.columns),
                "description": "The column names (any order, optional ones may be left out, "
                f"other columns of the {inputs.contract.name} table are ignored).",
            },
            "data": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_rows,
                "description": "Rows, one value per column.",
                "items": {
                    "type": "array",
                    "prefixItems": cells,
                    "items": False,
                    "minItems": width,
                    "maxItems": width,
                },
            },
            "index": {"type": "array", "description": "Row labels (ignored)."},
        },
    }


def records_from_json(inputs: RowInputs, payload: Any, max_rows: int) -> list[dict[str, Any]]:
    """The validated rows of an MLflow JSON payload (exactly one of MLFLOW_JSON_FORMATS)."""
    if not isinstance(payload, dict):
        raise _shape_error(
            [], f"expected a JSON object with one of the keys {', '.join(MLFLOW_JSON_FORMATS)}"
        )
    present = [key for key in MLFLOW_JSON_FORMATS if key in payload]
    unknown = sorted(set(payload) - set(MLFLOW_JSON_FORMATS))
    if unknown:
        raise _shape_error(
            [unknown[0]],
            f"unknown key (expected exactly one of {', '.join(MLFLOW_JSON_FORMATS)})",
        )
    if len(present) != 1:
        raise _shape_error([], f"expected exactly one of the keys {', '.join(MLFLOW_JSON_FORMATS)}")
    form = present[0]
    if form == "dataframe_split":
        rows = _split_records(inputs, payload[form])
    else:
        rows = payload[form]
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise _shape_error([form], f"must be a list of objects, one per {inputs.contract.row}")
    _check_rows(inputs, len(rows), max_rows, form)
    return inputs.validate_records(rows, form)


def _split_records(inputs: RowInputs, split: Any) -> list[dict[str, Any]]:
    try:
        frame = DataframeSplit.model_validate(split)
    except ValidationError as error:
        detail = [
            inputs.describe(item, ("dataframe_split",)) for item in error.errors(include_url=False)
        ]
        raise InputError(422, one_line(detail), detail) from None
    columns = frame.columns
    _check_unique(inputs, columns, ["dataframe_split", "columns"])
    for row, values in enumerate(frame.data):
        if len(values) != len(columns):
            raise _shape_error(
                ["dataframe_split", "data", row],
                f"has {len(values)} values; expected {len(columns)}, one per column",
            )
    return [dict(zip(columns, values, strict=True)) for values in frame.data]


def records_from_csv(inputs: RowInputs, body: bytes, max_rows: int) -> list[dict[str, Any]]:
    """The validated rows of a CSV body with a header row (pandas `to_csv(index=False)`)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _shape_error(
            ["csv"], f"not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, None)
        if not header:
            raise _shape_error(["csv"], "no header row (expected the column names first)")
        _check_unique(inputs, header, ["csv", "header"])
        rows: list[dict[str, Any]] = []
        for values in reader:
            if len(values) != len(header):
                raise _shape_error(
                    ["csv", reader.line_num],
                    f"has {len(values)} values; expected {len(header)}, one per column",
                )
            rows.append(dict(zip(header, values, strict=True)))
            if len(rows) > max_rows:
                break
        # Over the cap: the rows left are only counted (the body limit bounds them).
        count = len(rows) + sum(1 for _ in reader)
    except csv.Error as error:
        raise _shape_error(["csv"], f"not valid CSV ({error})") from None
    _check_rows(inputs, count, max_rows, "csv")
    return inputs.validate_records([_typed_csv_row(inputs, row) for row in rows], "csv")


def _typed_csv_row(inputs: RowInputs, row: dict[str, str]) -> dict[str, Any]:
    """CSV cells are text: numbers are parsed for the numeric columns, '' means missing."""
    columns = inputs.contract.columns
    wanted = set(inputs.columns)
    typed: dict[str, Any] = {}
    for name, cell in row.items():
        if name not in wanted:
            continue
        dtype = columns[name].dtype
        if cell == "":
            typed[name] = None
        elif dtype == "str":
            typed[name] = cell
        elif dtype == "bool":
            typed[name] = _boolean(cell)
        else:
            typed[name] = _number(cell, dtype)
    return typed


def _number(cell: str, dtype: str) -> Any:
    if dtype == "int64":
        try:
            return int(cell)
        except ValueError:
            pass
    try:
        return float(cell)
    except ValueError:
        return cell  # left as text: validation reports it as not a number


def _boolean(cell: str) -> Any:
    word = cell.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return cell  # left as text: validation reports it as not a boolean


def _check_unique(inputs: RowInputs, columns: list[str], loc: list[Any]) -> None:
    """An input column named twice is ambiguous; ignored columns may repeat."""
    duplicate = next((n for n in inputs.columns if columns.count(n) > 1), None)
    if duplicate is not None:
        raise _shape_error(loc, f"column '{duplicate}' appears twice")


def _check_rows(inputs: RowInputs, rows: int, limit: int, form: str) -> None:
    noun = inputs.contract.name
    if rows == 0:
        raise _shape_error([form], f"no {noun} to predict")
    if rows > limit:
        raise _shape_error([form], cap_message(limit, INVOCATIONS_ROUTE, rows, noun))


def _shape_error(loc: list[Any], message: str) -> InputError:
    detail = [{"loc": loc, "msg": message, "type": "value_error"}]
    return InputError(422, one_line(detail), detail)
