"""What the API accepts: one row of the contract's table, checked against the contract, in every
input form.

The row models are made from the data contract (music_genre.data.contract) that the model
carries: its input columns (required, then optional), their dtypes, ranges (int64's for an
unbounded int) and allowed values. A request is held to the same rules as the training data, and
this module writes none of them down a second time. The same models produce the OpenAPI
document, so what it promises is what the server checks.

Input forms (the MLflow scoring protocol and this project's own /predict and /explain):
- `{"<contract.name>": [row, ...]}` (POST /predict, /explain): the table's other columns (the
  target, carried columns, the composed text feature: `RowInputs.ignored`) are accepted and
  ignored, so a row copied from the table is a valid row; any other field is an error naming it;
- `{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`, `{"dataframe_records": [...]}`,
  `{"instances": [...]}`, `{"inputs": [...]}` and text/csv with a header row (POST /invocations,
  serving.forms): every column but the input columns is ignored, as MLflow does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

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

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.data.contract import Contract

INT64_RANGE: Final = (-(2**63), 2**63 - 1)
_PYTHON_TYPES: Final = {"float64": float, "int64": int, "str": str, "bool": bool}
_NUMERIC_DTYPES: Final = ("float64", "int64")
_RANGE_ERRORS: Final = frozenset(
    {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}
)
_SHOWN_VALUE_CHARS: Final = 40
_BODY: Final = "body"
# Strict: "0.5" is not a number and 4.2 is not an integer; NaN and infinities are not values.
_STRICT: Final = {"strict": True, "allow_inf_nan": False}


class InputError(Exception):
    """A request the API rejects: a status, one line, and every problem found."""

    def __init__(self, status: int, message: str, detail: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail if detail is not None else [{"loc": [], "msg": message, "type": ""}]


def component_name(words: str, fallback: str = "Row") -> str:
    """An OpenAPI component name from the contract's words: `song` is `Song`."""
    parts = [part for part in re.split(r"[^0-9A-Za-z]+", words) if part]
    return "".join(part[:1].upper() + part[1:] for part in parts) or fallback


def _integral(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; so do we (but never True or "5").
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _not_boolean(value: Any) -> Any:
    # A Literal of numbers takes True as 1; JSON Schema's enum of numbers does not.
    if isinstance(value, bool):
        raise ValueError("Input should be one of the allowed numbers, not a boolean")
    return value


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class RowInputs:
    """The API's view of one contract: the input columns, the ignored table columns, and the
    row models (`row` for /predict and /explain, `record` for MLflow's forms)."""

    contract: Contract
    row: type[BaseModel]
    record: type[BaseModel]

    @classmethod
    def of(cls, contract: Contract) -> RowInputs:
        row_name = component_name(contract.row)
        record_name = "Record" if row_name != "Record" else "MLflowRecord"
        fields = _input_fields(contract)
        row = create_model(
            row_name,
            __config__=ConfigDict(extra="forbid", **_STRICT),  # type: ignore[typeddict-item]
            __validators__=_missing_values(contract),
            **fields,
            **_ignored_fields(contract),
        )
        row.__doc__ = (
            f"One {contract.row}: its input columns (within the training data's ranges); the "
            f"{contract.name} table's other columns are ignored, any other field is an error."
        )
        record = create_model(
            record_name,
            __config__=ConfigDict(extra="ignore", **_STRICT),  # type: ignore[typeddict-item]
            __validators__=_missing_values(contract),
            **fields,
        )
        record.__doc__ = (
            f"One {contract.row} as a row of an MLflow-style frame: columns the model does not "
            "use are ignored."
        )
        return cls(contract, row, record)

    @property
    def columns(self) -> tuple[str, ...]:
        """What a caller sends for one row: the required input columns, then the optional."""
        return self.contract.input_columns

    @property
    def ignored(self) -> tuple[str, ...]:
        """The table's columns (raw, and prepared) that the model does not read."""
        return ignored_columns(self.contract)

    def allowed_range(self, name: str) -> tuple[int | float, int | float] | None:
        """The inclusive range a numeric input column must lie in (int64's for unbounded ints)."""
        return allowed_range(self.contract, name)

    def describe(self, item: Mapping[str, Any], prefix: tuple[str | int, ...]) -> dict[str, Any]:
        """One pydantic error as {loc, msg, type}, the message naming the allowed range."""
        loc = [*prefix, *item.get("loc", ())]
        message = item["msg"]
        field = loc[-1] if loc else None
        bounds = self.allowed_range(field) if isinstance(field, str) else None
        if item["type"] in _RANGE_ERRORS and bounds is not None:
            shown = repr(item.get("input"))
            if len(shown) > _SHOWN_VALUE_CHARS:
                shown = shown[: _SHOWN_VALUE_CHARS - 3] + "..."
            message = f"{shown} is outside the allowed range [{bounds[0]}, {bounds[1]}]"
        return {"loc": loc, "msg": message, "type": item["type"]}

    def validate_records(self, records: list[Any], where: str) -> list[dict[str, Any]]:
        """Check every row against the contract; the values of the input columns per row (None:
        missing), or InputError naming every problem."""
        rows: list[dict[str, Any]] = []
        detail: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            try:
                rows.append(self.record.model_validate(record).model_dump(by_alias=True))
            except ValidationError as error:
                detail += [
                    self.describe(item, (where, index)) for item in error.errors(include_url=False)
                ]
        if detail:
            raise InputError(422, one_line(detail), detail)
        return rows

    def frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        """Validated rows as the raw table's columns and dtypes (numbers with a missing value
        as float64)."""
        import pandas as pd

        frame = pd.DataFrame.from_records(rows, columns=list(self.columns))
        return frame.astype({name: _frame_dtype(self.contract, name) for name in self.columns})

    def prepare(self, frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
        """A table the model reads: the required columns checked, absent optional ones added as
        missing, the text feature composed (contract.with_text_feature)."""
        contract = self.contract
        missing = [name for name in contract.required_input_columns if name not in frame.columns]
        if missing:
            raise DataFileError(f"{source}: missing required column(s) {', '.join(missing)}")
        for name in contract.required_input_columns:
            _check_required(frame, name, contract.columns[name].dtype, source)
        absent = {
            name: _missing_column(frame, _frame_dtype(contract, name))
            for name in contract.optional_columns
            if name not in frame.columns
        }
        text = {
            name: frame[name].astype("str")
            for name in (*contract.text_columns, *_string_columns(contract))
            if name in frame.columns and not _holds_text(frame[name])
        }
        return contract.with_text_feature(frame.assign(**absent, **text))


def allowed_range(contract: Contract, name: str) -> tuple[int | float, int | float] | None:
    """The inclusive range a numeric column must lie in (int64's for unbounded ints)."""
    if name in contract.value_ranges:
        return contract.value_ranges[name]
    column = contract.columns.get(name)
    return INT64_RANGE if column is not None and column.dtype == "int64" else None


def ignored_columns(contract: Contract) -> tuple[str, ...]:
    """The table's columns (raw, and prepared) that the model does not read: accepted in a row
    of /predict and ignored."""
    text = (contract.text_feature,) if contract.text_feature else ()
    inputs = set(contract.input_columns)
    return tuple(name for name in (*contract.raw_columns, *text) if name not in inputs)


def _annotation(contract: Contract, name: str) -> Any:
    column = contract.columns[name]
    kind = _PYTHON_TYPES[column.dtype]
    if column.values is not None:
        allowed: Any = Literal[column.values]
        if kind is int:
            return Annotated[allowed, BeforeValidator(_integral), BeforeValidator(_not_boolean)]
        return Annotated[allowed, BeforeValidator(_not_boolean)] if kind is float else allowed
    bounds = allowed_range(contract, name)
    if bounds is None:
        return kind
    constraint = Interval(ge=bounds[0], le=bounds[1])
    if kind is int:
        return Annotated[int, constraint, BeforeValidator(_integral)]
    return Annotated[kind, constraint]


def _input_fields(contract: Contract) -> dict[str, Any]:
    """The input columns as fields: named by position, the column name their alias (so any
    column name works, `_id` or `schema` too)."""
    fields: dict[str, Any] = {}
    for index, name in enumerate(contract.input_columns):
        annotation = _annotation(contract, name)
        if name in contract.optional_columns:
            fields[f"column_{index}"] = (annotation | None, Field(None, alias=name))
        else:
            fields[f"column_{index}"] = (annotation, Field(alias=name))
    return fields


def _ignored_fields(contract: Contract) -> dict[str, Any]:
    """Any value, never read: left out of model_dump, so a validated row has the input columns."""
    ignored = (
        f"A column of the {contract.name} table that the model does not read: accepted and ignored."
    )
    return {
        f"ignored_{index}": (Any, Field(None, alias=name, exclude=True, description=ignored))
        for index, name in enumerate(ignored_columns(contract))
    }


def _missing_values(contract: Contract) -> dict[str, Any]:
    """A validator run before the fields': NaN in an optional column means missing (clients
    that serialise pandas frames send NaN for a missing value)."""
    optional = frozenset(contract.optional_columns)

    def nan_means_missing(cls: type[BaseModel], data: Any) -> Any:  # pydantic: named cls
        if isinstance(data, dict):
            return {
                key: None if key in optional and _is_nan(value) else value
                for key, value in data.items()
            }
        return data

    return {"nan_means_missing": model_validator(mode="before")(nan_means_missing)}


def one_line(detail: list[dict[str, Any]]) -> str:
    """The first problem as `where: what` (e.g. `<name>.1.<column>: 900.0 is outside ...`);
    FastAPI's `body` part of a location is left out, and names a problem of the whole body."""
    return validation_line(detail, omit=(_BODY,), nowhere=_BODY)


def cap_message(cap: int, route: str, got: int | None, noun: str) -> str:
    """What a request over a cap on rows (`noun`: the contract's name) is told, in one line."""
    return f"at most {cap} {noun} per {route} request (the server's cap), got {got or 'more'}"


def _frame_dtype(contract: Contract, name: str) -> str:
    column = contract.columns[name]
    if column.nullable and column.dtype == "int64":
        return "float64"  # as pandas reads an int column with missing values
    if column.nullable and column.dtype == "bool":
        return "object"
    return column.dtype


def _missing_column(frame: pd.DataFrame, dtype: str) -> pd.Series:
    import pandas as pd

    value: Any = pd.NA if dtype == "str" else None if dtype == "object" else float("nan")
    return pd.Series(value, index=frame.index, dtype=dtype)


def _string_columns(contract: Contract) -> tuple[str, ...]:
    features = (*contract.numeric_features, *contract.categorical_features)
    return tuple(name for name in features if contract.columns[name].dtype == "str")


def _holds_text(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_string_dtype(series))


def _check_required(frame: pd.DataFrame, name: str, dtype: str, source: str) -> None:
    import pandas as pd

    series = frame[name]
    if dtype in _NUMERIC_DTYPES and (
        not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
    ):
        raise DataFileError(f"{source}: column '{name}' must hold numbers, got {series.dtype}")
    if dtype == "bool" and not pd.api.types.is_bool_dtype(series):
        raise DataFileError(f"{source}: column '{name}' must hold booleans, got {series.dtype}")
    if series.isna().any():
        row = int(series.isna().to_numpy().argmax())
        raise DataFileError(f"{source}: column '{name}' is empty in row {row}")


def batch_field(max_rows: int, model: type[BaseModel]) -> Any:
    # A type built at run time from a variable: fine for pydantic, opaque to a type checker.
    return Annotated[list[model], Field(min_length=1, max_length=max_rows)]  # type: ignore[valid-type]
