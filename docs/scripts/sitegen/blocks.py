"""The `<!-- gen: NAME ARGS -->` blocks a page may hold, and the non-file `{{ }}` sources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sitegen import benchmarks, tables
from sitegen.notes import metrics_note, result_note
from sitegen.reference import cli_default

BLOCKS: dict[str, Callable[..., str]] = {
    "headline": tables.headline,
    "model": tables.model,
    "per-class": tables.per_class,
    "split": tables.split,
    "check-data": tables.check_data,
    "stages": tables.stage_table,
    "estimators": tables.estimators,
    "contract": tables.contract_columns,
    "contract-keys": tables.contract_keys,
    "penguins": tables.penguins,
    "api-inputs": tables.api_inputs,
    "eda-figures": tables.eda_figures,
    "bench-pipeline": benchmarks.pipeline,
    "bench-serving": benchmarks.serving,
    "bench-tune": benchmarks.tune,
    "bench-refit": benchmarks.refit,
    "bench-text": benchmarks.text_features,
    "bench-ensembles": benchmarks.ensembles,
    "study": benchmarks.study,
    "bench-sweep": benchmarks.sweep,
    "bench-report": benchmarks.report,
    "bench-tiers": benchmarks.tiers,
    "bench-python": benchmarks.python_versions,
    "result-note": result_note,
    "metrics-note": metrics_note,
}


def resolve(source: str, key: str) -> Any:
    """Values that come from the code rather than a file: `cli` (an option's default)."""
    if source == "cli":
        return cli_default(key)
    return None
