"""The summary of a `music-genre tune` study: every trial, the chosen one, the Pareto front of
score and cost, and three plots.

plots/tune/<study>/ gets trials.json (every trial: number, state, parameters, score and all
validation scores, boosting rounds, seconds, and its costs: experiments.costs), summary.md, and
PNGs rendered offline with vl-convert from Vega-Lite (like the other plots): the optimisation
history (each completed trial's score and the best so far), score against decision nodes with
the Pareto front, and the parameter importances (Optuna's fANOVA evaluator, seeded with
tune.seed). The chosen trial is the best score within `tune.max_nodes` (all trials without it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from music_genre.core.fileio import atomic_path
from music_genre.core.params import TuneParams

HISTORY_PNG: Final = "history.png"
FRONT_PNG: Final = "front.png"
IMPORTANCE_PNG: Final = "importance.png"
VEGA_LITE_SCHEMA: Final = "https://vega.github.io/schema/vega-lite/v5.json"

# The study's page beside trials.json and the plots.
SUMMARY_FILE = "summary.md"


def trial_rows(study: Any) -> list[dict[str, Any]]:
    rows = []
    for trial in study.trials:
        attrs = trial.user_attrs
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name.lower(),
                "value": trial.value,
                "params": dict(trial.params),
                "rounds": attrs.get("rounds"),
                "seconds": attrs.get("seconds"),
                "scores": attrs.get("scores"),
                "costs": attrs.get("costs"),
                **({"reason": attrs["reason"]} if "reason" in attrs else {}),
            }
        )
    return rows


def importances(study: Any, seed: int) -> dict[str, float]:
    """fANOVA importances of the parameters (empty with fewer than two completed trials)."""
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2 or len({json.dumps(t.params, sort_keys=True) for t in complete}) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {name: float(value) for name, value in found.items()}


def history_spec(rows: list[dict[str, Any]], metric: str, maximise: bool) -> dict[str, Any]:
    points = []
    best = None
    for row in rows:
        if row["state"] != "complete":
            continue
        value = row["value"]
        if best is None or (value > best if maximise else value < best):
            best = value
        points.append({"trial": row["number"], "value": value, "best so far": best})
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": f"Optimisation history: validation {metric} of each completed trial",
        "width": 560,
        "height": 300,
        "data": {"values": points},
        "layer": [
            {
                "mark": {"type": "point", "filled": True, "opacity": 0.6},
                "encoding": {
                    "x": {"field": "trial", "type": "quantitative", "title": "trial"},
                    "y": {
                        "field": "value",
                        "type": "quantitative",
                        "title": metric,
                        "scale": {"zero": False},
                    },
                },
            },
            {
                "mark": {"type": "line", "interpolate": "step-after", "color": "firebrick"},
                "encoding": {
                    "x": {"field": "trial", "type": "quantitative"},
                    "y": {"field": "best so far", "type": "quantitative"},
                },
            },
        ],
    }


def front_spec(rows: list[dict[str, Any]], front: list[int], metric: str) -> dict[str, Any]:
    """Each completed trial's score against its decision nodes, the front as a line."""
    points = [
        {
            "trial": row["number"],
            "nodes": row["costs"]["nodes"],
            "value": row["value"],
            "on the front": row["number"] in front,
        }
        for row in rows
        if row["state"] == "complete" and (row.get("costs") or {}).get("nodes") is not None
    ]
    encoding = {
        "x": {"field": "nodes", "type": "quantitative", "title": "decision nodes (log)",
              "scale": {"type": "log"}},
        "y": {"field": "value", "type": "quantitative", "title": metric, "scale": {"zero": False}},
    }  # fmt: skip
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": f"Validation {metric} against the model's decision nodes (the scoring cost)",
        "width": 560,
        "height": 300,
        "data": {"values": points},
        "layer": [
            {
                "mark": {"type": "point", "filled": True, "opacity": 0.6},
                "encoding": {**encoding, "color": {"field": "on the front", "type": "nominal"}},
            },
            {
                "transform": [{"filter": "datum['on the front']"}],
                "mark": {"type": "line", "interpolate": "step-after", "color": "firebrick"},
                "encoding": encoding,
            },
        ],
    }


def importance_spec(found: dict[str, float]) -> dict[str, Any]:
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": "Parameter importances (fANOVA)",
        "width": 480,
        "height": {"step": 24},
        "data": {"values": [{"parameter": k, "importance": v} for k, v in found.items()]},
        "mark": "bar",
        "encoding": {
            "y": {"field": "parameter", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "importance", "type": "quantitative"},
        },
    }


def write_study_summary(
    study: Any, settings: TuneParams, dimensions: list[Any], folder: Path, *, interrupted: bool
) -> None:
    import vl_convert

    from music_genre.experiments.costs import choose, pareto_front
    from music_genre.modeling.metrics import LOWER_IS_BETTER

    folder.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study)
    maximise = settings.metric not in LOWER_IS_BETTER
    best = choose(rows, maximise, settings.max_nodes)
    front = pareto_front(rows, maximise)
    found = importances(study, settings.seed)
    summary = {
        "study": settings.study,
        "metric": settings.metric,
        "direction": "maximize" if maximise else "minimize",
        "seed": settings.seed,
        "budget": {"n_trials": settings.n_trials, "timeout_s": settings.timeout_s},
        "interrupted": interrupted,
        "space": {d.key: repr(d.distribution) for d in dimensions},
        "counts": {
            state: sum(row["state"] == state for row in rows)
            for state in ("complete", "pruned", "fail")
        },
        "max_nodes": settings.max_nodes,
        "best": best,
        "pareto_front": front,
        "importances": found,
        "trials": rows,
    }
    _write(folder / "trials.json", json.dumps(summary, indent=2) + "\n")
    pictures = [(HISTORY_PNG, history_spec(rows, settings.metric, maximise))]
    if front:
        pictures.append((FRONT_PNG, front_spec(rows, front, settings.metric)))
    if found:
        pictures.append((IMPORTANCE_PNG, importance_spec(found)))
    for name, spec in pictures:
        png = vl_convert.vegalite_to_png(spec, scale=1.0)
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(png)
    _write(folder / SUMMARY_FILE, _markdown(summary, [name for name, _ in pictures]))


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _markdown(summary: dict[str, Any], pictures: list[str]) -> str:
    counts = summary["counts"]
    lines = [
        f"# Study `{summary['study']}`",
        "",
        f"Validation {summary['metric']} ({summary['direction']}), seed {summary['seed']}; "
        f"{counts['complete']} completed, {counts['pruned']} pruned, {counts['fail']} stopped or "
        f"failed{' (interrupted)' if summary['interrupted'] else ''}.",
        "",
    ]
    best = summary["best"]
    cap = summary["max_nodes"]
    rule = "the best score" + ("" if cap is None else f" within {cap:,} decision nodes")
    if best is not None:
        lines += [
            f"**Chosen ({rule}): trial #{best['number']}, {summary['metric']} = "
            f"{best['value']:.5f}** ({best['rounds']} rounds, {best['seconds']:.1f} s"
            f"{_cost_words(best.get('costs'))})",
            "",
            "| parameter | value |",
            "|---|---|",
            *(f"| `{key}` | {value} |" for key, value in best["params"].items()),
            "",
        ]
    lines += [f"![{name}]({name})" for name in pictures] + [""]
    lines += _front_table(summary)
    keys = list(summary["space"])
    lines += [
        "| trial | state | "
        + summary["metric"]
        + " | rounds | seconds | nodes | "
        + " | ".join(f"`{key.rsplit('.', 1)[-1]}`" for key in keys)
        + " |",
        "|" + "---|" * (6 + len(keys)),
    ]
    for row in summary["trials"]:
        value = "" if row["value"] is None else f"{row['value']:.5f}"
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.1f}"
        nodes = (row.get("costs") or {}).get("nodes")
        values = " | ".join(_cell(row["params"].get(key)) for key in keys)
        lines.append(
            f"| {row['number']} | {row['state']} | {value} | {row['rounds'] or ''} | "
            f"{seconds} | {'' if nodes is None else f'{nodes:,}'} | {values} |"
        )
    return "\n".join(lines) + "\n"


def _front_table(summary: dict[str, Any]) -> list[str]:
    """The Pareto front's trials with their costs, as Markdown lines (none without a front)."""
    if not summary["pareto_front"]:
        return []
    by_number = {row["number"]: row for row in summary["trials"]}
    lines = [
        f"Pareto front of {summary['metric']} and decision nodes (no other trial has both "
        "a score at least as good and fewer nodes):",
        "",
        f"| trial | {summary['metric']} | decision nodes | scoring ms / 10,000 rows "
        "| fit s | model MiB |",
        "|---|---|---|---|---|---|",
    ]
    for number in summary["pareto_front"]:
        row = by_number[number]
        costs = row["costs"]
        lines.append(
            f"| {number} | {row['value']:.5f} | {costs['nodes']:,} | "
            f"{costs['scoring_ms_per_10k']:.1f} | {costs['fit_seconds']:.1f} | "
            f"{costs['model_bytes'] / 2**20:.2f} |"
        )
    return [*lines, ""]


def _cost_words(costs: dict[str, Any] | None) -> str:
    if not costs or costs.get("nodes") is None:
        return ""
    return (
        f"; {costs['nodes']:,} decision nodes, {costs['scoring_ms_per_10k']:.1f} ms per 10,000 "
        f"rows scored, {costs['model_bytes'] / 2**20:.2f} MiB"
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
