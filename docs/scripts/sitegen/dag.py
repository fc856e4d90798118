"""The pipeline's DAG, read from dvc.yaml: a stage depends on another when one of its deps is
(or lies inside) one of the other's outputs, as DVC itself decides."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from html import escape
from typing import Any

import yaml

from sitegen.sources import ROOT


@dataclass(frozen=True)
class Stage:
    name: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    params: tuple[str, ...]


def _paths(entries: list[Any] | None) -> tuple[str, ...]:
    found = []
    for entry in entries or []:
        found.extend([entry] if isinstance(entry, str) else list(entry))
    return tuple(found)


@cache
def stages() -> tuple[Stage, ...]:
    """The stages of dvc.yaml, in its order."""
    raw = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return tuple(
        Stage(
            name,
            _paths(spec.get("deps")),
            _paths(spec.get("outs")) + _paths(spec.get("metrics")) + _paths(spec.get("plots")),
            tuple(str(p) for p in _paths(spec.get("params"))),
        )
        for name, spec in raw.items()
    )


def _inside(path: str, out: str) -> bool:
    return path == out or path.startswith(out.rstrip("/") + "/")


@cache
def edges() -> tuple[tuple[str, str], ...]:
    """(upstream, downstream) pairs, in dvc.yaml's order of the downstream stage."""
    found = []
    for stage in stages():
        for other in stages():
            if other.name != stage.name and any(
                _inside(dep, out) for dep in stage.deps for out in other.outs
            ):
                found.append((other.name, stage.name))
    return tuple(found)


def depth() -> dict[str, int]:
    """Each stage's column: the longest path from a stage without upstream."""
    level = {stage.name: 0 for stage in stages()}
    for _ in stages():
        for upstream, downstream in edges():
            level[downstream] = max(level[downstream], level[upstream] + 1)
    return level


def mermaid() -> str:
    """A mermaid flowchart (GitHub renders it; it also reads as text)."""
    lines = ["flowchart LR"]
    lines += [f"    {upstream} --> {downstream}" for upstream, downstream in edges()]
    connected = {name for edge in edges() for name in edge}
    lines += [f"    {stage.name}" for stage in stages() if stage.name not in connected]
    return "\n".join(lines)


_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD, _ARC = 120, 36, 44, 34, 12, 30


def _edge(start: tuple[float, float], end: tuple[float, float]) -> str:
    """A straight line to the next column; an arc over the row past it; a curve down a row."""
    (x1, y1), (x2, y2) = start, end
    if y2 > y1:
        sx, sy, ex, ey = x1 + _BOX_W / 2, y1 + _BOX_H, x2, y2 + _BOX_H / 2
        shape = f"C{sx},{ey} {ex - _GAP_X / 2},{ey} {ex},{ey}"
    elif y2 == y1 and x2 - x1 > _BOX_W + _GAP_X:
        sx, sy, ex, ey = x1 + _BOX_W * 0.7, y1, x2 + _BOX_W * 0.3, y2
        shape = f"C{sx},{sy - _ARC} {ex},{ey - _ARC} {ex},{ey}"
    else:
        sx, sy, ex, ey = x1 + _BOX_W, y1 + _BOX_H / 2, x2, y2 + _BOX_H / 2
        shape = f"L{ex},{ey}"
    return (
        f'<path d="M{sx},{sy} {shape}" fill="none" stroke="#555" stroke-width="1.5" '
        'marker-end="url(#arrow)"/>'
    )


def svg() -> str:
    """The DAG as a self-contained SVG: one column per depth, boxes in dvc.yaml's order."""
    level = depth()
    rows: dict[int, list[str]] = {}
    for stage in stages():
        rows.setdefault(level[stage.name], []).append(stage.name)
    top = _PAD + _ARC
    place = {
        name: (_PAD + column * (_BOX_W + _GAP_X), top + row * (_BOX_H + _GAP_Y))
        for column, names in rows.items()
        for row, name in enumerate(names)
    }
    width = _PAD * 2 + (max(rows) + 1) * (_BOX_W + _GAP_X) - _GAP_X
    height = top + _PAD + max(len(names) for names in rows.values()) * (_BOX_H + _GAP_Y) - _GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="pipeline DAG" '
        'font-family="sans-serif" font-size="13">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="#fff"/>',
    ]
    parts += [_edge(place[upstream], place[downstream]) for upstream, downstream in edges()]
    for name, (x, y) in place.items():
        parts.append(
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="6" '
            'fill="#e8eaf6" stroke="#3f51b5"/>'
            f'<text x="{x + _BOX_W / 2}" y="{y + _BOX_H / 2 + 4}" text-anchor="middle">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
