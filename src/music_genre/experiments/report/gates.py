"""Merge gates of the model report: `--fail-on METRIC:DELTA` turns a metric's move into the exit
code."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from music_genre.core.errors import PipelineError
from music_genre.experiments.report.sources import METRICS_FILES, is_number


@dataclass(frozen=True)
class Gate:
    """--fail-on METRIC:DELTA: the metric may move by DELTA at most in DELTA's direction's
    opposite (roc_auc:-0.002 fails when roc_auc drops by more than 0.002; log_loss:0.01 fails
    when it rises by more than 0.01)."""

    file: str
    metric: str
    delta: float

    @classmethod
    def parse(cls, text: str) -> Gate:
        name, sep, number = text.rpartition(":")
        try:
            delta = float(number)
        except ValueError:
            delta = math.nan
        if not sep or not name or not math.isfinite(delta):
            raise PipelineError(
                f"--fail-on '{text}': expected METRIC:DELTA, e.g. roc_auc:-0.002 or "
                "train.log_loss:0.01"
            )
        file, dot, metric = name.partition(".")
        if not dot or file not in METRICS_FILES:
            file, metric = "evaluate", name
        return cls(file, metric, delta)

    @property
    def label(self) -> str:
        return f"{self.file}.{self.metric}"

    def violated_by(self, change: float) -> bool:
        return change < self.delta if self.delta < 0 else change > self.delta


def check_gates(gates: Sequence[Gate], metrics: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The report's gate lines and the violations (empty when every gate held)."""
    lines, violations, checked = [], [], []
    for gate in gates:
        entry = metrics.get(METRICS_FILES[gate.file], {}).get(gate.metric) or {}
        old, new = entry.get("old"), entry.get("new")
        if not (is_number(old) and is_number(new)) or old is None or new is None:
            lines.append(f"Gate `{gate.label}`: not in both revisions, not checked.")
            continue
        checked.append(f"`{gate.label}:{gate.delta:+g}`")
        if gate.violated_by(new - old):
            violations.append(
                f"{gate.label} moved by {new - old:+.6f}, beyond the allowed {gate.delta:+g} "
                f"({old:.6f} -> {new:.6f})"
            )
    if violations:
        lines += ["", "## Merge gate: failed", "", *(f"- {v}" for v in violations)]
    elif checked:
        lines += ["", "## Merge gate: passed", "", ", ".join(checked)]
    return lines, violations
