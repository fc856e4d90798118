"""`music-genre report BASE`: what the workspace changed against a git revision, in Markdown.

Built on DVC's own diffs (report.sources); the report holds the params that changed, the test
and validation metrics with old, new and delta, the per-class F1 movers, the data checks, the
split and the model card where they changed (report.markdown), and the ROC, precision-recall,
confusion-matrix and training-curve plots of both revisions rendered offline to PNG
(report.figures). `--fail-on METRIC:DELTA` turns a metric's move into the exit code, for merge
gates (report.gates).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.core import paths
from music_genre.core.fileio import atomic_path
from music_genre.experiments.report.figures import render_plots, render_png
from music_genre.experiments.report.gates import Gate, check_gates
from music_genre.experiments.report.markdown import (
    anything_changed,
    render_markdown,
    report_sections,
)
from music_genre.experiments.report.sources import collect, not_in_local_cache, resolve_base

if TYPE_CHECKING:
    from music_genre.data.contract import Contract


@dataclass
class Outcome:
    path: Path
    changed: bool
    violations: list[str] = field(default_factory=list)


def write_report(
    base: str,
    out_dir: str | Path = "report",
    fail_on: Sequence[str] = (),
    *,
    repo: str | Path = ".",
    render: Callable[[dict[str, Any]], bytes] | None = None,
    contract: Contract | None = None,
) -> Outcome:
    """Write DIR/report.md (and its PNGs) comparing the workspace with BASE; `render` turns a
    Vega-Lite spec into PNG bytes (default: vl-convert, report.figures.render_png). The
    contract (default: the repository's contract.yaml) names the per-class plot and table."""
    from music_genre.data.contract import load_contract

    gates = [Gate.parse(text) for text in fail_on]
    root, out = Path(repo), Path(out_dir)
    contract = contract or load_contract(root / paths.CONTRACT)
    commit = resolve_base(base, root)
    diffs = collect(base, root, out, contract.target)
    sections = report_sections(diffs, base)
    changed = anything_changed(sections, diffs, base)
    lines = [f"# Model report: workspace against `{base}` ({commit[:7]})", ""]
    if changed:
        uncached = not_in_local_cache(base, root)
        drawn = render_plots(
            diffs.plots, base, out, render or render_png, uncached, target=diffs.target
        )
        lines += render_markdown(base, diffs, sections, drawn)
    else:
        lines.append(
            f"No change against `{base}`: params, metrics, data checks and plots are the same."
        )
    gate_lines, violations = check_gates(gates, diffs.metrics)
    lines += ["", *gate_lines] if gate_lines else []
    path = out / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return Outcome(path, changed, violations)
