"""params.yaml: loaded and validated once, here, into frozen pydantic models.

Every knob of the pipeline lives in params.yaml. A typo'd key, a missing key, a value of the
wrong type or out of its range stops the stage with one line that names the dotted key, what
was expected and what was found. Validation is strict: no string is read as a number and no
boolean as an integer (an integer is accepted where a number is expected).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import ErrorDetails

from music_genre.core.errors import ParamsError, error_key, first_line
from music_genre.core.estimators import ESTIMATORS

SYNTHETIC_SOURCE = "synthetic"

# A share strictly between 0 and 1.
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class Section(BaseModel):
    """A mapping of params.yaml: only its own keys, exact types, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(Section):
    source: str
    sha256: str | None
    # Used only when source is 'synthetic'.
    synthetic_rows: int = Field(default=42_896, ge=1)
    synthetic_seed: int = 0
    # The per-class statistics the synthetic table is drawn from (a path relative to the
    # project, written by `music-genre synthetic-spec`); null: drawn from the contract alone.
    synthetic_spec: str | None = None


class CheckDataParams(Section):
    ks_alpha: Fraction
    # Rows of entities (the contract's groups) whose copies carry several labels: counted
    # always, failing the stage only above this share of the table.
    max_conflicting_share: float = Field(default=0.15, ge=0.0, le=1.0)


class SegregateParams(Section):
    test_size: Fraction
    # The contract's groups.name: every copy of an entity on one side of the test split and
    # of train's validation split; "none": rows split one by one (the only choice without
    # groups). Checked against the contract by segregate and train (data.splits).
    group_by: str = "none"


class TfidfParams(Section):
    """The text blocks: TF-IDF of the text feature, and (statistics) per text column the
    counts of modeling.text.STATISTICS."""

    max_features: int | None = Field(ge=1)
    statistics: bool = False


class _TrainBase(Section):
    val_size: Fraction
    model: str
    # Where the model is fitted: "local" (this process) or "dask" (LightGBM on a Dask cluster,
    # the `dask` section; the same training recipe, the split read in chunks by the workers).
    backend: Literal["local", "dask"] = "local"
    # The final model, after the validation scores and curves (which stay those of the fit on
    # the fit rows): "none" keeps that fit; "same_rounds" refits the pipeline on the whole train
    # split (fit rows, then validation rows) with the rounds early stopping chose; "scaled_rounds"
    # with those rounds x whole / fit rows. An estimator without early stopping on the validation
    # part is refitted with its params as they are. The dask backend does not refit (it logs so).
    refit: Literal["none", "same_rounds", "scaled_rounds"] = "none"
    # Threads of train and evaluate: 0 = every core, except 1 inside a queued experiment (so
    # that `dvc queue start -j N` runs N single-threaded fits instead of oversubscribing).
    n_threads: int = Field(default=0, ge=0)


# One `train.<estimator>` mapping of keyword arguments per registered estimator, checked
# against the estimator's own parameters when the model is built (music_genre.modeling.build).
if TYPE_CHECKING:
    # A type checker sees the common fields; the estimator sections are read by name (getattr).
    TrainParams = _TrainBase
else:
    TrainParams = create_model(
        "TrainParams",
        __base__=_TrainBase,
        **{name: (dict[str, Any], Field(default_factory=dict)) for name in ESTIMATORS},
    )


class DaskParams(Section):
    """train.backend dask (music_genre.modeling.distributed); the local backend ignores it."""

    # The scheduler's address (tcp://host:8786); null: $DASK_SCHEDULER_ADDRESS, else a local
    # cluster of `workers` single-threaded processes.
    scheduler: str | None = None
    # Workers LightGBM trains on (the first by address); the model's bytes depend on it.
    workers: int = Field(default=2, ge=1)
    # Seconds to reach the scheduler and for `workers` workers to connect.
    timeout_s: float = Field(default=30.0, gt=0)
    # Rows of the split one task reads (a parquet row group, or a slice of a larger one).
    chunk_rows: int = Field(default=100_000, ge=1)
    # The seeded sample of fit rows (and, in proportion, of validation rows) that the TF-IDF
    # vocabulary is chosen on and, without boosting_rounds, the local early-stopped fit.
    sample_rows: int = Field(default=50_000, ge=1)
    sample_seed: int = 0
    # Rounds of the distributed fit (LightGBM's Dask estimator cannot stop early); null: the
    # rounds early stopping picks when the training recipe fits the sample locally.
    boosting_rounds: int | None = Field(default=None, ge=1)


class EdaParams(Section):
    # Songs drawn (seeded) in the 2-D projection plot; statistics use every row.
    sample_rows: int = Field(ge=1)
    seed: int


class PruningParams(Section):
    # A trial continues while its validation loss is within the best `percentile` per cent of
    # the completed trials' at the same progress (Optuna's PercentilePruner; 50: the median).
    percentile: float = Field(gt=0.0, lt=100.0)
    # Trials that always finish, before any is stopped early.
    startup_trials: int = Field(ge=0)
    # Progress is the shrinkage spent, learning rate x boosting rounds: the loss is reported
    # each `every` of it and compared only after `warmup` of it.
    every: float = Field(gt=0.0)
    warmup: float = Field(ge=0.0)


class TuneParams(Section):
    """`music-genre tune` (music_genre.experiments.tune); no pipeline stage reads it."""

    # Names the study, its report folder and the DVC experiment of its best trial.
    study: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int
    metric: str
    n_trials: int | None = Field(ge=1)
    timeout_s: float | None = Field(gt=0)
    pruning: PruningParams
    # The cap on the chosen trial's decision nodes (experiments.costs: what scoring walks,
    # the same on every machine); null: the best score whatever its cost.
    max_nodes: int | None = Field(default=None, ge=1)
    # Dotted params.yaml key -> {low, high[, log]} or {choices: [...]}; checked by the tuner.
    space: dict[str, dict[str, Any]]


class Params(Section):
    seed: int
    data: DataParams
    check_data: CheckDataParams
    segregate: SegregateParams
    train: TrainParams
    tfidf: TfidfParams
    eda: EdaParams
    tune: TuneParams | None = None
    dask: DaskParams = Field(default_factory=DaskParams)


def load_params(path: str | Path = "params.yaml") -> Params:
    import yaml

    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{source}: file not found") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{source}: not valid YAML ({first_line(error)})") from None
    return parse_params(raw, str(source))


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(f"{source}: {_describe_error(error.errors()[0])}") from None


def _describe_error(error: ErrorDetails) -> str:
    """One pydantic error as the dotted key, what was expected and what was found."""
    loc = [str(part) for part in error["loc"]]
    key = error_key(loc)
    model, field = _field_at(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{key}' (expected one of: {', '.join(model.model_fields)})"
    if kind == "missing":
        return f"missing key '{key}'"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"'{key}' is {error['input']}, expected a value in {_interval(field)}"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        return f"'{key}' is {error['input']!r}, expected a string matching {pattern}"
    expected = _expected_type(field.annotation if field else None)
    if expected == "a mapping":
        return f"{key or 'top level'} must be a mapping, got {_describe(error['input'])}"
    return f"'{key}' must be {expected}, got {_describe(error['input'])}"


def _field_at(loc: list[str]) -> tuple[type[BaseModel], Any]:
    """The model holding the last key of `loc`, and that key's field (None if unknown)."""
    model: type[BaseModel] = Params
    field = None
    for index, part in enumerate(loc):
        field = model.model_fields.get(part)
        if field is None or index == len(loc) - 1:
            break
        nested = _model_of(field.annotation)
        if nested is not None:
            model = nested
    return model, field


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The section model of an annotation (`Section` or `Section | None`), else None."""
    import typing

    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "a mapping"}


def _expected_type(annotation: Any) -> str:
    import typing

    if annotation is None:
        return "a mapping"
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(value) for value in typing.get_args(annotation))
    if _model_of(annotation) is not None:
        return "a mapping"
    members = typing.get_args(annotation) if typing.get_origin(annotation) is not dict else ()
    kinds = [typing.get_origin(arg) or arg for arg in members] or [
        typing.get_origin(annotation) or annotation
    ]
    return " or ".join(
        "null" if kind is type(None) else _TYPE_NAMES.get(kind, getattr(kind, "__name__", "?"))
        for kind in kinds
    )


def _interval(field: Any) -> str:
    bounds = {type(item): item for item in field.metadata}
    low = bounds.get(annotated_types.Gt) or bounds.get(annotated_types.Ge)
    high = bounds.get(annotated_types.Lt) or bounds.get(annotated_types.Le)
    left = "(" if isinstance(low, annotated_types.Gt) else "["
    right = ")" if high is None or isinstance(high, annotated_types.Lt) else "]"
    low_value = "-inf" if low is None else getattr(low, "gt", getattr(low, "ge", None))
    high_value = "inf" if high is None else getattr(high, "lt", getattr(high, "le", None))
    return f"{left}{low_value}, {high_value}{right}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def set_dotted(mapping: dict[str, Any], key: str, value: Any, separator: str = ".") -> None:
    """Set `train.lightgbm.num_leaves`-style `key` in a nested mapping (params.yaml's shape)."""
    *parents, leaf = key.split(separator)
    node = mapping
    for part in parents:
        node = node[part]
    node[leaf] = value
