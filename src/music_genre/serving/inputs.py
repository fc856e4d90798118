"""What the API accepts: one song's fields, checked against the data contract, in every input form.

The field names and types come from music_genre.data.features and the allowed ranges from the
pandera data contract (music_genre.data.schema.VALUE_RANGES): a request is held to the same rules
as the training data, and this module writes none of them down a second time. The same models
produce the OpenAPI document, so what it promises is what the server checks.

Input forms (the MLflow scoring protocol and this project's own /predict and /explain):
- `{"songs": [song, ...]}` (POST /predict, /explain): the other columns of the songs table
  (TABLE_ONLY_COLUMNS: mode, type, genre, text_feature) are accepted and ignored, so a row copied
  from the table is a valid song; any other field is an error naming it;
- `{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`, `{"dataframe_records": [...]}`,
  `{"instances": [...]}`, `{"inputs": [...]}` and text/csv with a header row (POST /invocations):
  other columns of the songs table (type, mode, genre, ...) are ignored, as MLflow does.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final

from annotated_types import Interval
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from music_genre.core.errors import DataFileError, validation_line
from music_genre.data.features import (
    OPTIONAL_COLUMNS,
    RAW_COLUMNS,
    RAW_DTYPES,
    REQUIRED_INPUT_COLUMNS,
    TEXT_FEATURE,
)
from music_genre.data.schema import VALUE_RANGES
from music_genre.pipeline.preprocess import add_text_feature

if TYPE_CHECKING:
    import pandas as pd

SONG_COLUMNS: Final = (*REQUIRED_INPUT_COLUMNS, *OPTIONAL_COLUMNS)
# What the songs table carries (raw, and prepared) but the model does not read: ignored in a song.
TABLE_ONLY_COLUMNS: Final = tuple(
    name for name in (*RAW_COLUMNS, TEXT_FEATURE) if name not in SONG_COLUMNS
)
INT64_RANGE: Final = (-(2**63), 2**63 - 1)
MLFLOW_JSON_FORMATS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")
# Where the MLflow forms are served (named in the error of a request over the cap).
INVOCATIONS_ROUTE: Final = "/invocations"
_PYTHON_TYPES: Final = {"float64": float, "int64": int, "str": str}
_RANGE_ERRORS: Final = frozenset(
    {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}
)
_SHOWN_VALUE_CHARS: Final = 40
_BODY: Final = "body"


class InputError(Exception):
    """A request the API rejects: a status, one line, and every problem found."""

    def __init__(self, status: int, message: str, detail: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail if detail is not None else [{"loc": [], "msg": message, "type": ""}]


def allowed_range(name: str) -> tuple[float, float] | None:
    """The inclusive range a numeric input column must lie in (int64's for unbounded ints)."""
    if name in VALUE_RANGES:
        return VALUE_RANGES[name]
    return INT64_RANGE if RAW_DTYPES.get(name) == "int64" else None


def _integral(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; so do we (but never True or "5").
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _annotation(name: str) -> Any:
    kind = _PYTHON_TYPES[RAW_DTYPES[name]]
    bounds = allowed_range(name)
    if bounds is None:
        return kind
    constraint = Interval(ge=bounds[0], le=bounds[1])
    if kind is int:
        return Annotated[int, constraint, BeforeValidator(_integral)]
    return Annotated[kind, constraint]


def _song_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {name: (_annotation(name), ...) for name in REQUIRED_INPUT_COLUMNS}
    fields.update({name: (_annotation(name) | None, None) for name in OPTIONAL_COLUMNS})
    return fields


def _table_only_fields() -> dict[str, Any]:
    """Any value, never read: left out of model_dump, so the validated song has SONG_COLUMNS."""
    ignored = "A column of the songs table that the model does not read: accepted and ignored."
    return {
        name: (Any, Field(None, exclude=True, description=ignored)) for name in TABLE_ONLY_COLUMNS
    }


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


class _SongBase(BaseModel):
    # Strict: "0.5" is not a number and 4.2 is not a key; NaN and infinities are not values.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _nan_means_missing(cls, data: Any) -> Any:
        # Clients that serialise pandas frames send NaN for a missing loudness or title.
        if isinstance(data, dict):
            return {
                key: None if key in OPTIONAL_COLUMNS and _is_nan(value) else value
                for key, value in data.items()
            }
        return data


class _RecordBase(_SongBase):
    # MLflow clients send every column of their frame (type, mode, even the target): ignored.
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)


Song = create_model("Song", __base__=_SongBase, **_song_fields(), **_table_only_fields())
Song.__doc__ = (
    "One song: its audio features (within the training data's ranges) and its text; the songs "
    "table's other columns are ignored, any other field is an error."
)
Record = create_model("Record", __base__=_RecordBase, **_song_fields())
Record.__doc__ = (
    "One song as a row of an MLflow-style frame: columns the model does not use are ignored."
)


def batch_field(max_rows: int, model: type[BaseModel]) -> Any:
    # A type built at run time from a variable: fine for pydantic, opaque to a type checker.
    return Annotated[list[model], Field(min_length=1, max_length=max_rows)]  # type: ignore[valid-type]


class DataframeSplit(BaseModel):
    """pandas `to_json(orient="split")`: column names, then one list of values per row."""

    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(
        min_length=1,
        description="Every required input column; optional ones and other columns may be added.",
    )
    data: list[list[Any]] = Field(min_length=1, description="Rows, one value per column.")
    index: list[Any] = Field(default_factory=list, description="Row labels (ignored).")


def dataframe_split_schema(max_rows: int) -> dict[str, Any]:
    """The JSON schema of a dataframe_split body, written for the columns in SONG_COLUMNS order.

    The server also takes the columns in any order, with optional ones left out and other
    columns of the songs table added (ignored); JSON Schema cannot tie a row's values to column
    names given at run time, so the document shows the one order it can describe exactly.
    """
    fields = Record.model_json_schema()["properties"]
    cells = [
        {key: value for key, value in fields[name].items() if key not in ("title", "default")}
        for name in SONG_COLUMNS
    ]
    width = len(SONG_COLUMNS)
    return {
        "type": "object",
        "title": "DataframeSplit",
        "description": DataframeSplit.__doc__,
        "additionalProperties": False,
        "required": ["columns", "data"],
        "properties": {
            "columns": {
                "const": list(SONG_COLUMNS),
                "description": "The column names (any order, optional ones may be left out, "
                "other columns of the songs table are ignored).",
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


def describe(item: Mapping[str, Any], prefix: tuple[str | int, ...]) -> dict[str, Any]:
    """One pydantic error as {loc, msg, type}, the message naming the allowed range."""
    loc = [*prefix, *item.get("loc", ())]
    message = item["msg"]
    field = loc[-1] if loc else None
    if item["type"] in _RANGE_ERRORS and isinstance(field, str) and allowed_range(field):
        # allowed_range(field) was checked non-empty just above.
        low, high = allowed_range(field)  # type: ignore[misc]
        shown = repr(item.get("input"))
        if len(shown) > _SHOWN_VALUE_CHARS:
            shown = shown[: _SHOWN_VALUE_CHARS - 3] + "..."
        message = f"{shown} is outside the allowed range [{low}, {high}]"
    return {"loc": loc, "msg": message, "type": item["type"]}


def one_line(detail: list[dict[str, Any]]) -> str:
    """The first problem as `where: what` (e.g. `songs.1.tempo: 900.0 is outside ...`); FastAPI's
    `body` part of a location is left out, and names a problem of the whole body."""
    return validation_line(detail, omit=(_BODY,), nowhere=_BODY)


def validate_records(records: list[Any], where: str) -> list[dict[str, Any]]:
    """Check every row against the contract; the values of SONG_COLUMNS per row, or InputError."""
    songs: list[dict[str, Any]] = []
    detail: list[dict[str, Any]] = []
    for row, record in enumerate(records):
        try:
            songs.append(Record.model_validate(record).model_dump())
        except ValidationError as error:
            detail += [describe(item, (where, row)) for item in error.errors(include_url=False)]
    if detail:
        raise InputError(422, one_line(detail), detail)
    return songs


def records_from_json(payload: Any, max_rows: int) -> list[dict[str, Any]]:
    """The validated songs of an MLflow JSON payload (exactly one of MLFLOW_JSON_FORMATS)."""
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
        rows = _split_records(payload[form])
    else:
        rows = payload[form]
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise _shape_error([form], "must be a list of objects, one per song")
    _check_rows(len(rows), max_rows, form)
    return validate_records(rows, form)


def _split_records(split: Any) -> list[dict[str, Any]]:
    try:
        frame = DataframeSplit.model_validate(split)
    except ValidationError as error:
        detail = [describe(item, ("dataframe_split",)) for item in error.errors(include_url=False)]
        raise InputError(422, one_line(detail), detail) from None
    columns = frame.columns
    _check_unique(columns, ["dataframe_split", "columns"])
    for row, values in enumerate(frame.data):
        if len(values) != len(columns):
            raise _shape_error(
                ["dataframe_split", "data", row],
                f"has {len(values)} values; expected {len(columns)}, one per column",
            )
    return [dict(zip(columns, values, strict=True)) for values in frame.data]


def records_from_csv(body: bytes, max_rows: int) -> list[dict[str, Any]]:
    """The validated songs of a CSV body with a header row (pandas `to_csv(index=False)`)."""
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
        _check_unique(header, ["csv", "header"])
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
    _check_rows(count, max_rows, "csv")
    return validate_records([_typed_csv_row(row) for row in rows], "csv")


def _typed_csv_row(row: dict[str, str]) -> dict[str, Any]:
    """CSV cells are text: numbers are parsed for the numeric columns, '' means missing."""
    typed: dict[str, Any] = {}
    for name, cell in row.items():
        dtype = RAW_DTYPES.get(name) if name in SONG_COLUMNS else None
        if dtype is None:
            continue
        if cell == "":
            typed[name] = None
        elif dtype == "str":
            typed[name] = cell
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


def _check_unique(columns: list[str], loc: list[Any]) -> None:
    """An input column named twice is ambiguous; ignored columns may repeat."""
    duplicate = next((n for n in SONG_COLUMNS if columns.count(n) > 1), None)
    if duplicate is not None:
        raise _shape_error(loc, f"column '{duplicate}' appears twice")


def cap_message(cap: int, route: str, got: int | None) -> str:
    """What a request over a cap on songs is told (one line, naming the cap)."""
    return f"at most {cap} songs per {route} request (the server's cap), got {got or 'more'}"


def _check_rows(rows: int, limit: int, form: str) -> None:
    if rows == 0:
        raise _shape_error([form], "no songs to predict")
    if rows > limit:
        raise _shape_error([form], cap_message(limit, INVOCATIONS_ROUTE, rows))


def _shape_error(loc: list[Any], message: str) -> InputError:
    detail = [{"loc": loc, "msg": message, "type": "value_error"}]
    return InputError(422, one_line(detail), detail)


def prepare_songs(songs: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """Check the required columns, add absent optional ones as missing, derive text_feature."""
    import pandas as pd

    missing = [name for name in REQUIRED_INPUT_COLUMNS if name not in songs.columns]
    if missing:
        raise DataFileError(f"{source}: missing required column(s) {', '.join(missing)}")
    for name in REQUIRED_INPUT_COLUMNS:
        if not pd.api.types.is_numeric_dtype(songs[name]) or pd.api.types.is_bool_dtype(
            songs[name]
        ):
            raise DataFileError(
                f"{source}: column '{name}' must hold numbers, got {songs[name].dtype}"
            )
        if songs[name].isna().any():
            row = int(songs[name].isna().to_numpy().argmax())
            raise DataFileError(f"{source}: column '{name}' is empty in row {row}")
    absent = {
        name: pd.Series(
            pd.NA if RAW_DTYPES[name] == "str" else float("nan"),
            index=songs.index,
            dtype=RAW_DTYPES[name],
        )
        for name in OPTIONAL_COLUMNS
        if name not in songs.columns
    }
    return add_text_feature(songs.assign(**absent))
