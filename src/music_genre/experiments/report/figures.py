"""The model report's plots: each plot of both revisions as dvc.yaml defines it, rendered offline
to PNG with vl-convert, and a note for a plot only one revision has."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from music_genre.core import paths
from music_genre.core.fileio import atomic_path
from music_genre.experiments.report.sources import PLOTS, WORKSPACE, captioned_plots


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


def f1_movers(
    plots: dict[str, Any], base: str, target: str
) -> list[tuple[str, float | None, float | None]]:
    """(class, base F1, workspace F1) of every class of either revision, by name."""
    plot = _plot(plots, paths.per_class_plot(target))
    old = {row[target]: row["f1"] for row in _revision_values(plot, base) if target in row}
    new = {row[target]: row["f1"] for row in _revision_values(plot, WORKSPACE) if target in row}
    labels = sorted(set(old) | set(new))
    return [(label, old.get(label), new.get(label)) for label in labels]


def plots_changed(plots: dict[str, Any], base: str, target: str) -> bool:
    return any(
        _revision_values(_plot(plots, plot_id), base)
        != _revision_values(_plot(plots, plot_id), WORKSPACE)
        for plot_id in [*PLOTS, paths.per_class_plot(target)]
    )


def render_png(spec: dict[str, Any]) -> bytes:
    import vl_convert

    return vl_convert.vegalite_to_png(spec, scale=1.0)


def render_plots(
    plots: dict[str, Any],
    base: str,
    out: Path,
    render: Callable[[dict[str, Any]], bytes],
    uncached: AbstractSet[str] = frozenset(),
    *,
    target: str,
) -> list[tuple[str, str, str]]:
    """Write each plot of both revisions as one PNG; (caption, file, note) per plot, captioned
    for the contract's `target`.

    `uncached`: BASE's outputs missing from the local DVC cache (not_in_local_cache), so that a
    plot BASE has but this clone never fetched is not taken for a new one."""
    jobs = {}
    notes = {}
    for plot_id, (file, caption) in captioned_plots(target).items():
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
