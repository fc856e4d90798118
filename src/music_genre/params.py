"""params.yaml: loaded and validated once, here, into typed dataclasses.

Every knob of the pipeline lives in params.yaml. A typo'd key, a missing key or a value of the
wrong type stops the stage with one line that names the key and what was expected.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Union

from music_genre.errors import ParamsError

SYNTHETIC_SOURCE = "synthetic"


def _fraction() -> dict[str, Any]:
    return {"range": (0.0, 1.0), "open": True}


@dataclass(frozen=True)
class DataParams:
    source: str
    sha256: str | None
    # Used only when source is 'synthetic'.
    synthetic_rows: int = field(default=42_896, metadata={"range": (1, None)})
    synthetic_seed: int = 0


@dataclass(frozen=True)
class CheckDataParams:
    ks_alpha: float = field(metadata=_fraction())


@dataclass(frozen=True)
class SegregateParams:
    test_size: float = field(metadata=_fraction())


@dataclass(frozen=True)
class TfidfParams:
    max_features: int | None = field(metadata={"range": (1, None)})


@dataclass(frozen=True)
class TrainParams:
    val_size: float = field(metadata=_fraction())
    model: str
    # Threads for fitting: 0 = every core, except 1 inside a queued experiment (so that
    # `dvc queue start -j N` runs N single-threaded fits instead of oversubscribing).
    n_threads: int = field(default=0, metadata={"range": (0, None)})
    # Keyword arguments of each estimator, checked against the estimator's own parameters
    # when the model is built (music_genre.model).
    random_forest: dict[str, Any] = field(default_factory=dict)
    hist_gradient_boosting: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EdaParams:
    # Songs drawn (seeded) in the 2-D projection plot; statistics use every row.
    sample_rows: int = field(metadata={"range": (1, None)})
    seed: int


@dataclass(frozen=True)
class Params:
    seed: int
    data: DataParams
    check_data: CheckDataParams
    segregate: SegregateParams
    train: TrainParams
    tfidf: TfidfParams
    eda: EdaParams


def load_params(path: str | Path = "params.yaml") -> Params:
    import yaml

    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{source}: file not found") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{source}: not valid YAML ({_first_line(error)})") from None
    return parse_params(raw, str(source))


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    return _build(Params, raw, source, prefix="")


def _build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: {where} must be a mapping, got {_describe(raw)}")
    hints = typing.get_type_hints(cls)
    known = {spec.name: spec for spec in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ParamsError(
            f"{source}: unknown key '{prefix}{unknown[0]}' (expected one of: {', '.join(known)})"
        )
    values = {}
    for name, spec in known.items():
        key = f"{prefix}{name}"
        if name not in raw:
            if _has_default(spec):
                continue
            raise ParamsError(f"{source}: missing key '{key}'")
        values[name] = _convert(hints[name], raw[name], source, key, spec.metadata)
    return cls(**values)


def _has_default(spec: Any) -> bool:
    from dataclasses import MISSING

    return spec.default is not MISSING or spec.default_factory is not MISSING


def _convert(hint: Any, value: Any, source: str, key: str, metadata: Any) -> Any:
    if is_dataclass(hint):
        return _build(hint, value, source, prefix=f"{key}.")
    allowed = _allowed_types(hint)
    if value is None and type(None) in allowed:
        return None
    if isinstance(value, bool) and bool not in allowed:
        raise _type_error(source, key, allowed, value)
    if isinstance(value, int) and float in allowed and int not in allowed:
        value = float(value)
    if not any(isinstance(value, kind) for kind in allowed if kind is not type(None)):
        raise _type_error(source, key, allowed, value)
    _check_range(value, source, key, metadata)
    return value


def _allowed_types(hint: Any) -> tuple[type, ...]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return tuple(typing.get_origin(arg) or arg for arg in typing.get_args(hint))
    return (origin or hint,)


def _check_range(value: Any, source: str, key: str, metadata: Any) -> None:
    bounds = metadata.get("range")
    if bounds is None or not isinstance(value, int | float):
        return
    low, high = bounds
    is_open = metadata.get("open", False)
    below = low is not None and (value <= low if is_open else value < low)
    above = high is not None and (value >= high if is_open else value > high)
    if below or above:
        left, right = ("(", ")") if is_open else ("[", "]")
        shown_high = "inf" if high is None else high
        raise ParamsError(
            f"{source}: '{key}' is {value}, expected a value in {left}{low}, {shown_high}{right}"
        )


def _type_error(source: str, key: str, allowed: tuple[type, ...], value: Any) -> ParamsError:
    names = " or ".join(
        "null" if kind is type(None) else _TYPE_NAMES.get(kind, kind.__name__) for kind in allowed
    )
    return ParamsError(f"{source}: '{key}' must be {names}, got {_describe(value)}")


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "a mapping"}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
