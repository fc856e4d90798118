"""The files the site's numbers come from, and `{{ source: key.path | format }}` look-ups."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "benchmarks" / "results"

# Source name -> file (relative to the project). Benchmark results are added by their stem.
FILES: dict[str, str] = {
    "evaluate": "metrics/evaluate/metrics.json",
    "train": "metrics/train/metrics.json",
    "split": "metrics/split.json",
    "check_data": "metrics/check_data.json",
    "params": "params.yaml",
    "card": "models/model.json",
    "penguins_metrics": "examples/penguins/metrics.json",
    "penguins_retarget": "examples/penguins/retarget.json",
}

PLACEHOLDER = re.compile(r"(?<!\\)\{\{\s*([\w-]+):\s*([^|}]+?)\s*(?:\|\s*([^}]*?)\s*)?\}\}")
_SEGMENT = re.compile(r"\[([^\]]+)\]|([^.\[\]]+)")


class SourceError(Exception):
    """A look-up that names a missing file, key or an unknown format: stops the build."""


def source_files() -> dict[str, str]:
    files = dict(FILES)
    for path in sorted(RESULTS.glob("*.json")):
        files.setdefault(path.stem, str(path.relative_to(ROOT)))
    return files


@cache
def load(source: str) -> Any:
    """The parsed content of one source (JSON or YAML)."""
    files = source_files()
    if source not in files:
        raise SourceError(f"unknown source '{source}' (known: {', '.join(sorted(files))})")
    path = ROOT / files[source]
    if not path.is_file():
        raise SourceError(f"{files[source]}: missing (run `dvc repro` or `dvc pull`)")
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)


def split_key(key: str) -> list[str]:
    """`a.b[c.d].e` -> ['a', 'b', 'c.d', 'e'] (brackets hold a key that has dots or slashes)."""
    return [bracketed or plain for bracketed, plain in _SEGMENT.findall(key.strip())]


def lookup(source: str, key: str) -> Any:
    node = load(source)
    for part in split_key(key):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise SourceError(f"{source_files()[source]}: no key '{key}' (stopped at '{part}')")
    return node


def _minutes(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    if not minutes:
        return f"{seconds} s"
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"


def _unit(sign: str) -> Callable[[float], str]:
    return lambda value: f"{value:.3g}{sign}" if value < 100 else f"{value:,.0f}{sign}"


_UNITS: dict[str, Callable[[Any], str]] = {
    "x": _unit("\u00d7"),
    "s": _unit(" s"),
    "ms": _unit(" ms"),
    "min": _minutes,
    "%": lambda value: f"{value:.1%}",
    "MiB": lambda value: f"{value / 2**20:.3g} MiB",
}


def fmt(value: Any, spec: str | None = None) -> str:
    """A value as the page shows it: `spec` is a Python format spec, or `%` for a percentage,
    `x` for a ratio (`1.12x` with a times sign), `s`/`ms`/`min` for a duration in that unit,
    `MiB` for bytes."""
    try:
        if not spec:
            return _plain(value)
        if spec in _UNITS:
            return _UNITS[spec](value)
        return format(value, spec)
    except (TypeError, ValueError) as error:
        raise SourceError(f"cannot format {value!r} with '{spec}' ({error})") from None


def _plain(value: Any) -> str:
    if value is None:  # params.yaml's null, as a reader writes it there
        return "null"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.5g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    return str(value)


def expand(text: str, resolve: Any = None) -> str:
    """Every `{{ source: key | format }}` of `text` replaced by its value (`\\{{` is a literal
    `{{`). `resolve(source, key)` answers sources that are not files (the CLI's defaults)."""

    def one(match: re.Match[str]) -> str:
        source, key, spec = match.group(1), match.group(2), match.group(3)
        if resolve is not None:
            value = resolve(source, key)
            if value is not None:
                return fmt(value, spec)
        return fmt(lookup(source, key), spec)

    return PLACEHOLDER.sub(one, text).replace("\\{{", "{{")
