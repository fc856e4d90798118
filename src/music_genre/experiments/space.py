"""The search space of `music-genre tune`: params.yaml's `tune.space` read into Optuna
distributions, each key checked against the params it would change, and a trial's values applied
to the params (validated like params.yaml itself) or written as `dvc exp run -S` arguments.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

from music_genre.core.errors import ParamsError
from music_genre.core.params import Params, TuneParams, parse_params, set_dotted

# Parameter sections a search may change: the model's own arguments and the text features.
TUNABLE_SECTIONS: Final = ("train", "tfidf")


@dataclass(frozen=True)
class Dimension:
    key: str  # dotted params.yaml key, e.g. train.lightgbm.learning_rate
    distribution: Any  # an optuna distribution
    present: bool  # already in params.yaml (dvc exp run -S key=v) or added (++key=v)


def tune_settings(params: Params) -> TuneParams:
    if params.tune is None:
        raise ParamsError("params.yaml: missing key 'tune' (the search space of music-genre tune)")
    return params.tune


def parse_space(params: Params) -> list[Dimension]:
    """Every `tune.space` entry as an Optuna distribution, checked before any trial runs."""
    import optuna

    from music_genre.modeling.metrics import METRIC_NAMES

    settings = tune_settings(params)
    if settings.n_trials is None and settings.timeout_s is None:
        raise ParamsError(
            "params.yaml: 'tune.n_trials' and 'tune.timeout_s' are both null: expected a trial "
            "count, a time budget in seconds, or both"
        )
    from music_genre.core.estimators import ESTIMATORS

    if not ESTIMATORS[params.train.model].takes_eval_set:
        raise ParamsError(
            f"params.yaml: 'train.model' is '{params.train.model}': music-genre tune searches "
            "boosters fitted with an evaluation set (lightgbm)"
        )
    if settings.metric not in METRIC_NAMES:
        raise ParamsError(
            f"params.yaml: 'tune.metric' is '{settings.metric}', expected one of: "
            f"{', '.join(METRIC_NAMES)}"
        )
    if not settings.space:
        raise ParamsError("params.yaml: 'tune.space' is empty: expected at least one parameter")
    raw = params.model_dump()
    dimensions = []
    for key, spec in settings.space.items():
        where = f"params.yaml: 'tune.space.{key}'"
        present = _check_key(key, raw, params, where)
        distribution = _distribution(spec, where, optuna)
        # Every value the range can take must be a valid parameter: try its ends.
        for value in _ends(distribution):
            _apply_one(params, {key: value}, where)
        dimensions.append(Dimension(key, distribution, present))
    return dimensions


def _check_key(key: str, raw: dict[str, Any], params: Params, where: str) -> bool:
    parts = key.split(".")
    if parts[0] not in TUNABLE_SECTIONS or len(parts) < 2:
        raise ParamsError(
            f"{where}: unknown parameter (expected a key under {' or '.join(TUNABLE_SECTIONS)}, "
            "e.g. train.lightgbm.learning_rate)"
        )
    if parts[0] == "train" and len(parts) == 3 and parts[1] != params.train.model:
        raise ParamsError(f"{where}: tunes '{parts[1]}', but train.model is '{params.train.model}'")
    node: Any = raw
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"{where}: unknown parameter ('{part}' is not in params.yaml)")
        node = node[part]
    if not isinstance(node, dict):
        raise ParamsError(f"{where}: unknown parameter")
    if parts[0] == "train" and len(parts) == 3:
        from music_genre.modeling.build import accepted_arguments

        if parts[2] not in accepted_arguments(params.train.model):
            raise ParamsError(
                f"{where}: unknown parameter ('{parts[2]}' is not an argument of "
                f"{params.train.model})"
            )
    elif parts[-1] not in node:
        raise ParamsError(f"{where}: unknown parameter ('{parts[-1]}' is not in params.yaml)")
    return parts[-1] in node


def _distribution(spec: dict[str, Any], where: str, optuna: Any) -> Any:
    keys = set(spec)
    if keys == {"choices"}:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ParamsError(f"{where}: empty choices (expected a non-empty list)")
        return optuna.distributions.CategoricalDistribution(choices)
    if not keys <= {"low", "high", "log"} or not {"low", "high"} <= keys:
        raise ParamsError(
            f"{where}: expected {{low, high}} (and optionally log: true) or {{choices: [...]}}, "
            f"got keys {sorted(keys)}"
        )
    low, high, log_scale = spec["low"], spec["high"], spec.get("log", False)
    numbers = (int, float)
    if any(isinstance(v, bool) or not isinstance(v, numbers) for v in (low, high)):
        raise ParamsError(f"{where}: low and high must be numbers, got {low!r} and {high!r}")
    if not isinstance(log_scale, bool):
        raise ParamsError(f"{where}: log must be true or false, got {log_scale!r}")
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ParamsError(f"{where}: empty range (low {low} is not below high {high})")
    if log_scale and low <= 0:
        raise ParamsError(f"{where}: a log range needs low > 0, got {low}")
    if isinstance(low, int) and isinstance(high, int):
        return optuna.distributions.IntDistribution(low, high, log=log_scale)
    return optuna.distributions.FloatDistribution(float(low), float(high), log=log_scale)


def _ends(distribution: Any) -> list[Any]:
    if hasattr(distribution, "choices"):
        return list(distribution.choices)
    return [distribution.low, distribution.high]


def apply(params: Params, values: dict[str, Any]) -> Params:
    """`params` with the dotted keys of `values` set, validated like params.yaml itself."""
    return _apply_one(params, values, "params.yaml")


def _apply_one(params: Params, values: dict[str, Any], where: str) -> Params:
    from music_genre.modeling.build import make_estimator

    raw = params.model_dump()
    for key, value in values.items():
        set_dotted(raw, key, value)
    try:
        changed = parse_params(raw)
        make_estimator(changed.train)  # the estimator accepts the value
    except ParamsError as error:
        raise ParamsError(f"{where}: {str(error).removeprefix('params.yaml: ')}") from None
    return changed


def experiment_overrides(values: dict[str, Any], dimensions: list[Dimension]) -> list[str]:
    """`dvc exp run -S` arguments: `key=value` for keys params.yaml has, `++key=value` for
    arguments the search added (Hydra's append-or-override)."""

    present = {d.key: d.present for d in dimensions}
    return [
        f"{'' if present.get(key, True) else '++'}{key}={json.dumps(value)}"
        for key, value in values.items()
    ]
