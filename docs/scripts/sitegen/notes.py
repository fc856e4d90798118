"""The "source and freshness" notes under each generated table."""

from __future__ import annotations

from sitegen.freshness import (
    Freshness,
    producing_stage,
    result_freshness,
    stage_freshness,
)

# How to refresh each result.
REFRESH: dict[str, str] = {
    "benchmarks/results/pipeline.json": "python benchmarks/pipeline.py",
    "benchmarks/results/serving.json": "python benchmarks/serving.py",
    "benchmarks/results/tune.json": "python benchmarks/tune.py",
    "benchmarks/results/sweep.json": "python benchmarks/sweep.py",
    "benchmarks/results/report.json": "python benchmarks/report.py",
    "benchmarks/results/python_versions.json": "python benchmarks/python_versions.py",
    "benchmarks/results/tests.json": "python benchmarks/tiers.py",
    "benchmarks/results/install.json": "python benchmarks/install.py",
    "benchmarks/results/ensembles.json": "pip install catboost && python benchmarks/ensembles.py",
}
STALE_TITLE = "Older than the code it measures"
CURRENT_TITLE = "Source"
_SHOWN = 3
_PATHS = 4


def _short(subject: str, width: int = 90) -> str:
    return subject if len(subject) <= width else subject[: width - 1].rstrip() + "\u2026"


def _indent(lines: list[str]) -> str:
    return "\n".join(f"    {line}" if line else "" for line in lines)


def result_note(path: str, refresh: str | None = None) -> str:
    """An admonition naming the result, when it was measured and whether code changed since."""
    return freshness_note(result_freshness(path), refresh or REFRESH.get(path))


def freshness_note(found: Freshness, refresh: str | None) -> str:
    measures = ", ".join(f"`{path}`" for path in found.measures)
    if found.unknown:
        body = [f"From `{found.path}`. Whether it is current cannot be told: {found.unknown}."]
        return f'!!! warning "{STALE_TITLE}?"\n' + _indent(body) + "\n"
    where = (
        f"measured at commit `{found.measured}` ({found.measured_date})"
        if found.measured
        else "measured in this workspace (not committed yet)"
    )
    if not found.stale:
        body = [f"From `{found.path}`, {where}; nothing it measures ({measures}) changed since."]
        return f'!!! info "{CURRENT_TITLE}"\n' + _indent(body) + "\n"
    count = len(found.changed)
    body = [
        f"From `{found.path}`, {where}. Since then {count} commit{'s' if count > 1 else ''} "
        f"changed what it measures ({measures}), so these numbers may no longer hold:",
        "",
    ]
    body += [
        f"- `{sha}` {date}: {_short(subject)}" for sha, date, subject in found.changed[:_SHOWN]
    ]
    if count > _SHOWN:
        body.append(f"- … and {count - _SHOWN} earlier")
    if refresh:
        body += ["", f"Re-measure with `{refresh}` and commit the result."]
    return f'!!! warning "{STALE_TITLE}"\n' + _indent(body) + "\n"


def metrics_note(*outputs: str) -> str:
    """Whether the pipeline outputs `outputs` are what dvc.lock's dependencies produce."""
    stages = sorted({stage for stage in map(producing_stage, outputs) if stage})
    stale = {stage: stage_freshness(stage) for stage in stages if stage_freshness(stage).stale}
    sources = ", ".join(f"`{path}`" for path in outputs)
    if not stale:
        named = ", ".join(f"`{stage}`" for stage in stages)
        body = [
            f"From {sources}, written by the stage{'s' if len(stages) > 1 else ''} {named}; "
            "every code and params dependency dvc.lock recorded for them is unchanged."
        ]
        return f'!!! info "{CURRENT_TITLE}"\n' + _indent(body) + "\n"
    body = [f"From {sources}. Changed since `dvc repro` wrote them (dvc.lock):", ""]
    for stage, found in stale.items():
        shown = ", ".join(f"`{path}`" for path in found.changed[:_PATHS])
        more = len(found.changed) - _PATHS
        body.append(f"- `{stage}`: {shown}" + (f" and {more} more" if more > 0 else ""))
    body += ["", "Run `dvc repro` (and commit `dvc.lock` and `metrics/`) to bring them up to date."]
    return f'!!! warning "{STALE_TITLE}"\n' + _indent(body) + "\n"
