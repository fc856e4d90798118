"""`music-genre report BASE`: what the workspace changed against a git revision, in Markdown.

Built on DVC's own diffs, run side by side: `dvc params diff --json`, `dvc metrics diff --all
--json` and `dvc plots diff --json` (for the plots it draws). The report holds the params that
changed; the test and validation metrics with old, new and delta; the per-genre F1 movers; the
data checks, the split and the model card where they changed; and the ROC, precision-recall,
confusion-matrix and training-curve plots of both revisions, rendered offline to PNG with
vl-convert. `--fail-on METRIC:DELTA` turns a metric's move into the exit code, for merge gates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from music_genre.core import commands, paths
from music_genre.core.errors import PipelineError
from music_genre.core.fileio import atomic_path

METRICS_FILES = {
    "evaluate": paths.EVALUATE_METRICS,
    "train": paths.TRAIN_METRICS,
    "split": paths.SPLIT_METRICS,
}
# The metrics a report shows first, in this order; the others of those files follow.
HEADLINE_METRICS = (
    ("evaluate", "roc_auc", "test roc_auc (ovo)"),
    ("evaluate", "accuracy", "test accuracy"),
    ("evaluate", "f1_macro", "test f1_macro"),
    ("evaluate", "log_loss", "test log_loss"),
    ("train", "roc_auc", "validation roc_auc"),
    ("train", "accuracy", "validation accuracy"),
    ("train", "f1_macro", "validation f1_macro"),
    ("train", "log_loss", "validation log_loss"),
    ("train", "validation.multi_logloss", "validation loss, last round"),
    ("train", "training.multi_logloss", "training loss, last round"),
    ("train", "boosting_rounds", "boosting rounds"),
)
# dvc.yaml plot id -> the PNG file the report shows it as, and its caption.
PLOTS = {
    paths.ROC_CURVES: ("roc.png", "ROC per genre (test)"),
    paths.PRECISION_RECALL_CURVES: ("precision_recall.png", "Precision-recall"),
    paths.TEST_CONFUSION: ("confusion_matrix.png", "Confusion matrix"),
    "training_curves": ("training_curves.png", "Training curves"),
}
PER_GENRE_PLOT = paths.PER_GENRE
CHECK_REPORT = paths.CHECK_REPORT
MODEL_CARD = paths.MODEL_CARD
CARD_FIELDS = (
    ("model", ("model",)),
    ("estimator", ("estimator",)),
    ("boosting rounds", ("boosting_rounds",)),
    ("fitted rows", ("training_data", "fit_rows")),
    ("validation rows", ("training_data", "validation_rows")),
    ("training data sha256", ("training_data", "sha256")),
)
MOVERS = 3
WORKSPACE = "workspace"


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


@dataclass
class Outcome:
    path: Path
    changed: bool
    violations: list[str] = field(default_factory=list)


def dvc_json(arguments: Sequence[str], cwd: Path) -> Any:
    """Run a dvc command with --json and parse its output; a failure is one line."""
    # Our own arguments (BASE is a checked git revision).
    result = commands.run("dvc", [*arguments, "--json"], cwd, check=True)
    return json.loads(result.stdout or "{}")


def _git(arguments: Sequence[str], cwd: Path) -> commands.Completed:
    return commands.run("git", arguments, cwd)


def resolve_base(base: str, repo: Path) -> str:
    """The commit BASE names, or a one-line error."""
    if base.startswith("-"):
        raise PipelineError(f"report: '{base}' is not a git revision")
    found = _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], repo)
    if found.returncode != 0:
        raise PipelineError(
            f"report: '{base}' is not a git revision of {repo.resolve()} "
            "(fetch it first, e.g. git fetch origin main; CI needs full history)"
        )
    return found.stdout.strip()


def _json_at(base: str, path: str, repo: Path) -> Any:
    """A git-tracked JSON file at BASE (None when BASE lacks it)."""
    shown = _git(["show", f"{base}:{path}"], repo)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def _cached_outputs_at(base: str, repo: Path) -> dict[str, Path]:
    """The DVC-cached outputs of BASE's dvc.lock: path -> where this workspace's DVC cache
    keeps its content (which may be absent)."""
    import yaml
    from dvc.repo import Repo

    shown = _git(["show", f"{base}:dvc.lock"], repo)
    lock = yaml.safe_load(shown.stdout) if shown.returncode == 0 else None
    outs = {
        out["path"]: out["md5"]
        for stage in (lock or {}).get("stages", {}).values()
        for out in stage.get("outs", [])
        if out.get("md5") and out.get("path")
    }
    if not outs:
        return {}
    with Repo(str(repo)) as dvc_repo:
        return {path: Path(dvc_repo.cache.local.oid_to_path(md5)) for path, md5 in outs.items()}


def not_in_local_cache(base: str, repo: Path) -> set[str]:
    """BASE's DVC-cached outputs whose content this workspace's cache does not have."""
    return {path for path, cached in _cached_outputs_at(base, repo).items() if not cached.is_file()}


def _card_at(base: str, repo: Path) -> dict[str, Any] | None:
    """The model card of BASE: its md5 from BASE's dvc.lock, read from this workspace's DVC
    cache, else through DVC from the remote; None when neither has it."""
    cached = _cached_outputs_at(base, repo).get(MODEL_CARD)
    if cached is None:
        return None
    if cached.is_file():
        return json.loads(cached.read_text())
    import dvc.api

    try:
        return json.loads(dvc.api.read(MODEL_CARD, rev=base, repo=str(repo)))
    except Exception:
        return None


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if _number(value):
        return f"{value:.5f}" if isinstance(value, float) else f"{value:,}"
    return f"`{value}`"


def _delta(old: Any, new: Any) -> str:
    if old is None:
        return "new"
    if new is None:
        return "removed"
    if _number(old) and _number(new):
        change = new - old
        if change == 0:
            return "0"
        return f"{change:+.5f}" if isinstance(change, float) else f"{change:+,}"
    return "changed" if old != new else "="


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(label, old, new) for the headline metrics, then every other metric of the files."""
    rows, seen = [], set()
    for file, key, label in HEADLINE_METRICS:
        entry = metrics.get(METRICS_FILES[file], {}).get(key)
        if entry is not None:
            rows.append((label, entry.get("old"), entry.get("new")))
            seen.add((file, key))
    for file in ("evaluate", "train"):
        for key, entry in sorted(metrics.get(METRICS_FILES[file], {}).items()):
            if (file, key) not in seen and key != "step":
                rows.append((f"{file} {key}", entry.get("old"), entry.get("new")))
    return rows


def _plot(plots: dict[str, Any], plot_id: str) -> list[dict[str, Any]]:
    """A plot as dvc.yaml's top-level `plots:` defines it (template, axes, title).

    With --targets, DVC also returns the bare output file under the plain path, drawn with its
    default template; dvc.yaml's definition comes as `dvc.yaml::<id>`.
    """
    return plots.get(f"dvc.yaml::{plot_id}") or plots.get(plot_id) or []


def _revision_values(plot: list[dict[str, Any]], rev: str) -> list[dict[str, Any]]:
    values = []
    for part in plot:
        content = part.get("content") if isinstance(part, dict) else None
        if isinstance(content, dict):
            values += [
                {k: v for k, v in row.items() if k != "rev"}
                for row in content.get("data", {}).get("values", [])
                if row.get("rev") == rev
            ]
    return values


def _absent(plot_id: str, base: str, uncached: AbstractSet[str], note: str) -> str:
    """`note`, unless BASE has the plot's data but this clone's DVC cache does not."""
    if plot_id in uncached:
        return f"`{base}`'s data is not in the local cache: `dvc pull` or run it"
    return note


def _f1_movers(plots: dict[str, Any], base: str) -> list[tuple[str, float | None, float | None]]:
    plot = _plot(plots, PER_GENRE_PLOT)
    old = {row["genre"]: row["f1"] for row in _revision_values(plot, base)}
    new = {row["genre"]: row["f1"] for row in _revision_values(plot, WORKSPACE)}
    genres = sorted(set(old) | set(new))
    return [(genre, old.get(genre), new.get(genre)) for genre in genres]


def _plots_changed(plots: dict[str, Any], base: str) -> bool:
    return any(
        _revision_values(_plot(plots, plot_id), base)
        != _revision_values(_plot(plots, plot_id), WORKSPACE)
        for plot_id in [*PLOTS, PER_GENRE_PLOT]
    )


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _check_summary(report: Any) -> dict[str, Any]:
    """What the data checks reported, flattened: rows, checks, tracks, conflicts, drift."""
    if not isinstance(report, dict):
        return {}
    keep = {key: report[key] for key in ("passed", "rows", "checks", "tracks") if key in report}
    drift = report.get("drift")
    if isinstance(drift, dict) and isinstance(drift.get("columns"), list):
        keep["drifting columns"] = sorted(
            str(item.get("column"))
            for item in drift["columns"]
            if isinstance(item, dict) and item.get("passed") is False
        )
    return _flatten(keep)


def _render_png(spec: dict[str, Any]) -> bytes:
    import vl_convert

    return vl_convert.vegalite_to_png(spec, scale=1.0)


def _render_plots(
    plots: dict[str, Any],
    base: str,
    out: Path,
    render: Callable[[dict[str, Any]], bytes],
    uncached: AbstractSet[str] = frozenset(),
) -> list[tuple[str, str, str]]:
    """Write each plot of both revisions as one PNG; (caption, file, note) per plot.

    `uncached`: BASE's outputs missing from the local DVC cache (not_in_local_cache), so that a
    plot BASE has but this clone never fetched is not taken for a new one."""
    jobs = {}
    notes = {}
    for plot_id, (file, caption) in PLOTS.items():
        parts = [p for p in _plot(plots, plot_id) if isinstance(p.get("content"), dict)]
        revisions = {rev for part in parts for rev in part.get("revisions", [])}
        if not parts:
            notes[plot_id] = (
                caption,
                "",
                _absent(plot_id, base, uncached, "not in either revision"),
            )
            continue
        jobs[plot_id] = parts[0]["content"]
        if base not in revisions:
            notes[plot_id] = (
                caption,
                file,
                _absent(plot_id, base, uncached, f"new: `{base}` has no data for it"),
            )
        elif WORKSPACE not in revisions:
            notes[plot_id] = (caption, file, "removed: only the base has it")
        else:
            notes[plot_id] = (caption, file, "")
    # One after the other in this thread: vl-convert starts a JavaScript runtime per thread,
    # which costs more than the renderings themselves.
    for plot_id, spec in jobs.items():
        png = render(spec)
        with atomic_path(out / PLOTS[plot_id][0]) as tmp:
            tmp.write_bytes(png)
    return [notes[plot_id] for plot_id in PLOTS]


@dataclass
class Diffs:
    """What DVC and git say of BASE and the workspace."""

    params: dict[str, Any]
    metrics: dict[str, Any]
    plots: dict[str, Any]
    base_card: dict[str, Any] | None
    card: dict[str, Any] | None
    base_checks: dict[str, Any]
    checks: dict[str, Any]


def collect(base: str, root: Path, out: Path) -> Diffs:
    """DVC's three diffs and the base's model card, side by side in threads."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        params = pool.submit(dvc_json, ["params", "diff", base], root)
        metrics = pool.submit(dvc_json, ["metrics", "diff", base, "--all"], root)
        plots = pool.submit(
            dvc_json,
            ["plots", "diff", base, "--targets", *PLOTS, PER_GENRE_PLOT, "-o", str(out / ".plots")],
            root,
        )
        base_card = pool.submit(_card_at, base, root)
        return Diffs(
            params=params.result(),
            metrics=metrics.result(),
            plots=plots.result().get("data", {}),
            base_card=base_card.result(),
            card=_read_json(root / MODEL_CARD),
            base_checks=_check_summary(_json_at(base, CHECK_REPORT, root)),
            checks=_check_summary(_read_json(root / CHECK_REPORT)),
        )


Row = tuple[str, Any, Any]


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[Row]:
    return [
        (key, old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _sections(diffs: Diffs, base: str) -> dict[str, list[Row]]:
    """Every table of the report (its rows), empty where nothing changed."""
    split = {key: entry for key, entry in diffs.metrics.get(METRICS_FILES["split"], {}).items()}
    cards: list[Row] = []
    if diffs.base_card is not None and diffs.card is not None:
        cards = [
            (label, _dig(diffs.base_card, keys), _dig(diffs.card, keys))
            for label, keys in CARD_FIELDS
            if _dig(diffs.base_card, keys) != _dig(diffs.card, keys)
        ]
    return {
        "params": [
            (key if file == "params.yaml" else f"{file}:{key}", entry.get("old"), entry.get("new"))
            for file, entries in sorted(diffs.params.items())
            for key, entry in sorted(entries.items())
        ],
        "metrics": _metric_rows(diffs.metrics),
        "data": _changed(diffs.base_checks, diffs.checks)
        + _changed(
            {key: entry.get("old") for key, entry in split.items()},
            {key: entry.get("new") for key, entry in split.items()},
        ),
        "card": cards,
        "f1": _f1_movers(diffs.plots, base),
    }


def _anything_changed(sections: dict[str, list[Row]], diffs: Diffs, base: str) -> bool:
    moved = any(old != new for _, old, new in sections["metrics"])
    tables = sections["params"] or sections["data"] or sections["card"]
    return bool(tables) or moved or _plots_changed(diffs.plots, base)


def _f1_lines(rows: list[Row], base: str) -> list[str]:
    both = sorted(
        ((g, o, n) for g, o, n in rows if o is not None and n is not None),
        key=lambda row: (row[2] - row[1], row[0]),
    )
    if not both:
        return []
    gains = [row for row in reversed(both) if row[2] > row[1]][:MOVERS]
    losses = [row for row in both if row[2] < row[1]][:MOVERS]
    lines = ["", "### Per-genre F1 (test): largest gains and losses", ""]
    if not gains and not losses:
        return [*lines, "No genre's F1 moved."]
    table = [(g, _show(o), _show(n), _delta(o, n)) for g, o, n in gains + losses]
    return lines + _table(["genre", f"`{base}`", WORKSPACE, "Δ"], table)


def _card_lines(diffs: Diffs, rows: list[Row], base: str) -> list[str]:
    lines = ["", "## Model card", ""]
    if diffs.base_card is None:
        return [*lines, f"The model card of `{base}` is not in the DVC cache or remote."]
    if not rows:
        return [*lines, "Estimator, rounds and training rows are unchanged."]
    return lines + _table(
        ["field", f"`{base}`", WORKSPACE], [(k, _show(o), _show(n)) for k, o, n in rows]
    )


def _markdown(
    base: str,
    diffs: Diffs,
    sections: dict[str, list[Row]],
    plots: list[tuple[str, str, str]],
) -> list[str]:
    lines = _summary(sections["params"], diffs.metrics)
    lines += ["", "## Params", ""]
    params = [(f"`{k}`", _show(o), _show(n)) for k, o, n in sections["params"]]
    lines += _table(["param", f"`{base}`", WORKSPACE], params) if params else ["No param changed."]
    lines += ["", "## Metrics", ""]
    lines += _table(
        ["metric", f"`{base}`", WORKSPACE, "Δ"],
        [(label, _show(o), _show(n), _delta(o, n)) for label, o, n in sections["metrics"]],
    )
    lines += _f1_lines(sections["f1"], base)
    if sections["data"]:
        lines += ["", "## Data checks and split", ""]
        lines += _table(
            ["what", f"`{base}`", WORKSPACE],
            [(f"`{k}`", _show(o), _show(n)) for k, o, n in sections["data"]],
        )
    lines += _card_lines(diffs, sections["card"], base)
    lines += [
        "",
        "## Plots",
        "",
        f"Each image draws both revisions (`{base}` and {WORKSPACE}).",
        "",
    ]
    for caption, file, note in plots:
        lines += [f"**{caption}**" + (f" ({note})" if note else ""), ""]
        lines += [f"![{caption}]({file})", ""] if file else []
    return lines


def check_gates(gates: Sequence[Gate], metrics: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The report's gate lines and the violations (empty when every gate held)."""
    lines, violations, checked = [], [], []
    for gate in gates:
        entry = metrics.get(METRICS_FILES[gate.file], {}).get(gate.metric) or {}
        old, new = entry.get("old"), entry.get("new")
        if not (_number(old) and _number(new)):
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


def write_report(
    base: str,
    out_dir: str | Path = "report",
    fail_on: Sequence[str] = (),
    *,
    repo: str | Path = ".",
    render: Callable[[dict[str, Any]], bytes] = _render_png,
) -> Outcome:
    """Write DIR/report.md (and its PNGs) comparing the workspace with BASE."""
    gates = [Gate.parse(text) for text in fail_on]
    root, out = Path(repo), Path(out_dir)
    commit = resolve_base(base, root)
    diffs = collect(base, root, out)
    sections = _sections(diffs, base)
    changed = _anything_changed(sections, diffs, base)
    lines = [f"# Model report: workspace against `{base}` ({commit[:7]})", ""]
    if changed:
        uncached = not_in_local_cache(base, root)
        drawn = _render_plots(diffs.plots, base, out, render, uncached)
        lines += _markdown(base, diffs, sections, drawn)
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


def _dig(value: Any, keys: Sequence[str]) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _summary(changed_params: list[Row], metrics: dict[str, Any]) -> list[str]:
    params = ", ".join(f"`{k}` {_show(o)} → {_show(n)}" for k, o, n in changed_params[:3])
    more = f" and {len(changed_params) - 3} more" if len(changed_params) > 3 else ""
    entry = metrics.get(METRICS_FILES["evaluate"], {}).get("roc_auc", {})
    old, new = entry.get("old"), entry.get("new")
    auc = (
        f"test roc_auc {_show(old)} → {_show(new)} ({_delta(old, new)})"
        if entry
        else "no test roc_auc"
    )
    return [f"{params + more if params else 'No param changed'}; {auc}."]
