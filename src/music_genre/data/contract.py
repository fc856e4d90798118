"""The data contract: the one description of the table, read from `contract.yaml`.

A contract names the table's columns in their published order, each with its role (numeric,
categorical, text, target, carried along), dtype, nullability and allowed range or values; the
target's classes; how the text feature is composed from the text columns (or no text at all);
which columns identify one entity for the grouped split (or none); and the nouns for one row and
many. Everything that speaks of the table derives from it: the pandera schema, the model's column
transformer, the API's models and OpenAPI document, the drift profile and monitor, explanations,
evaluate's per-class metrics, the PR report, the synthetic generator and the CLI's checks.

It is validated with pydantic; a contract that breaks a rule is reported in one line naming the
key (`contract.yaml: columns.<column>.range: ...`). Trained models carry their contract in the model
card, so serving needs no project around it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cached_property, reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from music_genre.core import paths
from music_genre.core.errors import PipelineError, validation_line

if TYPE_CHECKING:
    import pandas as pd

Role = Literal["numeric", "categorical", "text", "target", "carried"]
Dtype = Literal["float64", "int64", "str", "bool"]
Value = bool | int | float | str

# Where a run finds its contract: this variable, else `contract.yaml` in the working directory.
CONTRACT_ENV: Final = "MUSIC_GENRE_CONTRACT"
_NUMERIC_DTYPES: Final = ("float64", "int64")


class ContractError(PipelineError):
    """The contract file is missing or breaks a rule, or the table does not fit the contract."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Frozen):
    """One column of the table."""

    role: Role = Field(
        description="numeric or categorical (a model input), text (composed into the text "
        "feature), target (the label; its `values` are the classes), carried (kept, never read)"
    )
    dtype: Dtype = Field(description="pandas dtype of the column as the table is read")
    nullable: bool = Field(False, description="may be missing (imputed; optional in the API)")
    range: tuple[int | float, int | float] | None = Field(
        None, description="inclusive [low, high] every value must lie in (numeric dtypes)"
    )
    values: tuple[Value, ...] | None = Field(
        None, description="the allowed values, in order (the target's classes)"
    )
    frequencies: bool | None = Field(
        None,
        description="profile the shares of its values (default: categorical and target columns)",
    )
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        numeric_dtype = self.dtype in _NUMERIC_DTYPES
        if self.range is not None:
            if not numeric_dtype:
                raise ValueError(f"a range needs a numeric dtype, not {self.dtype}")
            if self.range[0] > self.range[1]:
                raise ValueError(f"range {list(self.range)}: low is above high")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("values must be distinct")
        if self.role == "numeric" and not numeric_dtype:
            raise ValueError(f"a numeric column needs dtype float64 or int64, not {self.dtype}")
        if self.role == "text" and self.dtype != "str":
            raise ValueError(f"a text column needs dtype str, not {self.dtype}")
        if self.role == "target":
            if self.values is None or len(self.values) < 2:
                raise ValueError("the target needs its classes as `values` (at least 2)")
            if self.nullable:
                raise ValueError("the target cannot be nullable")
        return self

    @property
    def profile_frequencies(self) -> bool:
        if self.frequencies is not None:
            return self.frequencies
        return self.role in ("categorical", "target")


class TextSpec(_Frozen):
    """The one text feature the model reads: the text columns joined by `separator`."""

    name: str = Field("text_feature", description="name of the composed column")
    columns: tuple[str, ...] = Field(min_length=1, description="text columns, in join order")
    separator: str = " "


class GroupSpec(_Frozen):
    """What makes rows one entity, kept on one side of every split."""

    name: str = Field(description="the entity's name, the value of segregate.group_by")
    columns: tuple[str, ...] = Field(
        min_length=1, description="rows equal in these columns are one entity"
    )
    id_column: str | None = Field(
        None, description="an id column that, when the table has it, is used instead"
    )


class Contract(_Frozen):
    """The table: its columns, target, text feature, grouping and names."""

    name: str = Field(description="the table, plural (`songs`): /predict's key, file names")
    row: str = Field(description="one row, singular (`song`)")
    target: str = Field(
        description="the column to predict (its role is target, its `values` the classes); "
        "dvc.yaml's plots name their files and fields after it"
    )
    columns: dict[str, ColumnSpec] = Field(min_length=2)
    text: TextSpec | None = None
    groups: GroupSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _columns_from_card(cls, raw: Any) -> Any:
        """A model card lists the columns in order, each with its `name` (card())."""
        if isinstance(raw, Mapping) and isinstance(raw.get("columns"), list):
            items = raw["columns"]
            if all(isinstance(item, Mapping) and "name" in item for item in items):
                columns = {
                    item["name"]: {k: v for k, v in item.items() if k != "name"} for item in items
                }
                return {**raw, "columns": columns}
        return raw

    @model_validator(mode="after")
    def _fits_together(self) -> Contract:
        targets = [name for name, column in self.columns.items() if column.role == "target"]
        if targets != [self.target]:
            raise ValueError(
                f"target '{self.target}' must be the one column of role target (role target: "
                f"{targets or 'none'})"
            )
        text_roles = [name for name, column in self.columns.items() if column.role == "text"]
        if self.text is None:
            if text_roles:
                raise ValueError(f"text columns {text_roles} need a `text:` section")
        else:
            if self.text.name in self.columns:
                raise ValueError(f"text.name '{self.text.name}' is already a column")
            if sorted(self.text.columns) != sorted(text_roles):
                raise ValueError(
                    f"text.columns {list(self.text.columns)} must be the columns of role text "
                    f"{text_roles}"
                )
        if self.groups is not None:
            unknown = [name for name in self.groups.columns if name not in self.columns]
            if unknown:
                raise ValueError(f"groups.columns: '{unknown[0]}' is not a declared column")
        if not self.model_input_columns:
            raise ValueError("no model input: declare a numeric, categorical or text column")
        return self

    # --- the columns by role -------------------------------------------------------------
    def _by_role(self, *roles: str) -> tuple[str, ...]:
        return tuple(name for name, column in self.columns.items() if column.role in roles)

    @cached_property
    def classes(self) -> tuple[str, ...]:
        return tuple(str(value) for value in self.columns[self.target].values or ())

    @cached_property
    def numeric_features(self) -> tuple[str, ...]:
        return self._by_role("numeric")

    @cached_property
    def categorical_features(self) -> tuple[str, ...]:
        return self._by_role("categorical")

    @cached_property
    def text_columns(self) -> tuple[str, ...]:
        return self.text.columns if self.text else ()

    @cached_property
    def text_feature(self) -> str | None:
        return self.text.name if self.text else None

    @cached_property
    def model_input_columns(self) -> tuple[str, ...]:
        """What the model may read, in the column transformer's order; the rest is ignored.
        The text columns come after the text feature: the statistics block reads them."""
        text = (self.text.name, *self.text.columns) if self.text else ()
        return (*self.numeric_features, *self.categorical_features, *text)

    @cached_property
    def raw_dtypes(self) -> dict[str, str]:
        """The raw table as published: column -> pandas dtype name."""
        return {name: column.dtype for name, column in self.columns.items()}

    @cached_property
    def raw_columns(self) -> tuple[str, ...]:
        return tuple(self.columns)

    @cached_property
    def optional_columns(self) -> tuple[str, ...]:
        """Input columns a caller may leave out or null: nullable features, then the text."""
        features = (*self.numeric_features, *self.categorical_features)
        nullable = tuple(name for name in features if self.columns[name].nullable)
        return (*nullable, *self.text_columns)

    @cached_property
    def required_input_columns(self) -> tuple[str, ...]:
        features = (*self.numeric_features, *self.categorical_features)
        return tuple(name for name in features if name not in self.optional_columns)

    @cached_property
    def input_columns(self) -> tuple[str, ...]:
        """What a caller sends for one row: the required columns, then the optional ones."""
        return (*self.required_input_columns, *self.optional_columns)

    @cached_property
    def profiled_columns(self) -> tuple[str, ...]:
        """Columns of numeric dtype: their quantiles are profiled and checked for drift."""
        return tuple(
            name for name, column in self.columns.items() if column.dtype in _NUMERIC_DTYPES
        )

    @cached_property
    def category_columns(self) -> tuple[str, ...]:
        """Columns whose value shares are profiled (small, closed sets of values)."""
        return tuple(name for name, column in self.columns.items() if column.profile_frequencies)

    @cached_property
    def value_ranges(self) -> dict[str, tuple[int | float, int | float]]:
        return {
            name: column.range for name, column in self.columns.items() if column.range is not None
        }

    @cached_property
    def nullable_columns(self) -> frozenset[str]:
        """Nullable in the prepared table (preprocess fills the text columns with '')."""
        return frozenset(
            name
            for name, column in self.columns.items()
            if column.nullable and column.role != "text"
        )

    # --- names derived from the target ---------------------------------------------------
    @cached_property
    def prediction_column(self) -> str:
        return f"predicted_{self.target}"

    def probability_column(self, label: str) -> str:
        return f"probability_{label}"

    # --- the text feature ----------------------------------------------------------------
    def compose_text(self, parts: Sequence[Any]) -> Any:
        """The text feature from the text columns' values, in text.columns order: pandas
        string Series (missing values already '') for the table, or strings for one row."""
        if self.text is None:
            raise ContractError("the contract declares no text feature")
        separator = self.text.separator
        return reduce(lambda left, right: left + separator + right, parts)

    def with_text_feature(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with missing text as '' and the text feature added (no text: unchanged)."""
        if self.text is None:
            return frame
        filled = {column: frame[column].fillna("") for column in self.text.columns}
        text = self.compose_text([filled[column] for column in self.text.columns])
        return frame.assign(**filled, **{self.text.name: text})

    # --- the contract against a table ----------------------------------------------------
    def missing_columns(self, columns: Sequence[str]) -> list[str]:
        present = set(columns)
        return [name for name in self.columns if name not in present]

    def require_columns(self, frame: pd.DataFrame, where: str) -> None:
        """One line naming the first declared column the table lacks."""
        missing = self.missing_columns(list(frame.columns))
        if missing:
            raise ContractError(
                f"{where}: column '{missing[0]}' is declared in the contract but not in the "
                f"table ({len(missing)} declared column(s) missing; it has: "
                f"{', '.join(map(str, frame.columns))})"
            )

    def require_classes(self, labels: pd.Series, where: str) -> None:
        """One line naming the first declared class that no row carries."""
        seen = set(labels.dropna().astype("str").unique())
        unseen = [label for label in self.classes if label not in seen]
        if unseen:
            raise ContractError(
                f"{where}: column '{self.target}': class '{unseen[0]}' is declared in the "
                f"contract but no row has it ({len(unseen)} of {len(self.classes)} unseen)"
            )

    def card(self) -> dict[str, Any]:
        """The contract as the model card stores it (JSON types, defaults left out). The columns
        are a list, each with its `name`: the card's JSON is written with sorted keys, which
        would lose the columns' order (and so the model inputs' and the API's)."""
        card = self.model_dump(mode="json", exclude_defaults=True)
        card["columns"] = [{"name": name, **spec} for name, spec in card["columns"].items()]
        return card


def contract_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The contract a run uses: `path`, else $MUSIC_GENRE_CONTRACT, else ./contract.yaml."""
    return Path(path or os.environ.get(CONTRACT_ENV) or paths.CONTRACT)


def parse_contract(raw: Any, source: str = paths.CONTRACT) -> Contract:
    if not isinstance(raw, Mapping):
        raise ContractError(
            f"{source}: expected a mapping of contract keys, got {type(raw).__name__}"
        )
    try:
        return Contract.model_validate(raw)
    except ValidationError as error:
        raise ContractError(
            f"{source}: {validation_line(error.errors(), nowhere='contract')}"
        ) from None


def load_contract(path: str | os.PathLike[str] | None = None) -> Contract:
    """Read and validate the contract (see contract_path for which file)."""
    import yaml

    source = contract_path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(
            f"{source}: no data contract here (describe the table in {paths.CONTRACT} or set "
            f"{CONTRACT_ENV})"
        ) from None
    except yaml.YAMLError as error:
        raise ContractError(f"{source}: not valid YAML ({' '.join(str(error).split())})") from None
    return parse_contract(raw, str(source))
