"""The model report's Markdown: the summary line, the params that changed, the metrics with old,
new and delta, the per-class F1 movers, the data checks, the split and the model card."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from music_genre.experiments.report.figures import f1_movers, plots_changed
from music_genre.experiments.report.sources import METRICS_FILES, WORKSPACE, Diffs, is_number

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


CARD_FIELDS = (
    ("model", ("model",)),
    ("estimator", ("estimator",)),
    ("boosting rounds", ("boosting_rounds",)),
    ("fitted rows", ("training_data", "fit_rows")),
    ("validation rows", ("training_data", "validation_rows")),
    ("training data sha256", ("training_data", "sha256")),
)


MOVERS = 3


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if is_number(value):
        return f"{value:.5f}" if isinstance(value, float) else f"{value:,}"
    return f"`{value}`"


def _delta(old: Any, new: Any) -> str:
    if old is None:
        return "new"
    if new is None:
        return "removed"
    if is_number(old) and is_number(new):
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


Row = tuple[str, Any, Any]


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[Row]:
    return [
        (key, old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def report_sections(diffs: Diffs, base: str) -> dict[str, list[Row]]:
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
        "f1": f1_movers(diffs.plots, base, diffs.target),
    }


def anything_changed(sections: dict[str, list[Row]], diffs: Diffs, base: str) -> bool:
    moved = any(old != new for _, old, new in sections["metrics"])
    tables = sections["params"] or sections["data"] or sections["card"]
    return bool(tables) or moved or plots_changed(diffs.plots, base, diffs.target)


def _f1_lines(rows: list[Row], base: str, target: str) -> list[str]:
    both = sorted(
        ((g, o, n) for g, o, n in rows if o is not None and n is not None),
        key=lambda row: (row[2] - row[1], row[0]),
    )
    if not both:
        return []
    gains = [row for row in reversed(both) if row[2] > row[1]][:MOVERS]
    losses = [row for row in both if row[2] < row[1]][:MOVERS]
    lines = ["", f"### Per-{target} F1 (test): largest gains and losses", ""]
    if not gains and not losses:
        return [*lines, f"No {target}'s F1 moved."]
    table = [(g, _show(o), _show(n), _delta(o, n)) for g, o, n in gains + losses]
    return lines + _table([target, f"`{base}`", WORKSPACE, "Δ"], table)


def _card_lines(diffs: Diffs, rows: list[Row], base: str) -> list[str]:
    lines = ["", "## Model card", ""]
    if diffs.base_card is None:
        return [*lines, f"The model card of `{base}` is not in the DVC cache or remote."]
    if not rows:
        return [*lines, "Estimator, rounds and training rows are unchanged."]
    return lines + _table(
        ["field", f"`{base}`", WORKSPACE], [(k, _show(o), _show(n)) for k, o, n in rows]
    )


def render_markdown(
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
    lines += _f1_lines(sections["f1"], base, diffs.target)
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
