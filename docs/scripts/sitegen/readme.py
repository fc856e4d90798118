"""The README's generated blocks: between `<!-- generated: NAME ... -->` and `<!-- end: NAME -->`,
rewritten from metrics/, dvc.yaml and benchmarks/results/ by `python docs/scripts/readme.py`
(`--check`: exit 1 if one is not current)."""

from __future__ import annotations

import re
from collections.abc import Callable

from sitegen import dag
from sitegen.sources import ROOT, fmt, load, lookup
from sitegen.tables import METRICS, table

README = ROOT / "README.md"
COMMAND = "python docs/scripts/readme.py"
_BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w-]+) [^>]*-->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S
)


def _results() -> str:
    rows = [
        ["validation (train stage)", *(fmt(lookup("train", m), ".4f") for m in METRICS)],
        ["test (evaluate stage)", *(fmt(lookup("evaluate", m), ".4f") for m in METRICS)],
    ]
    return table(["split", *METRICS], rows)


def _dag() -> str:
    return f"```mermaid\n{dag.mermaid()}\n```"


def _tiers() -> str:
    data = load("tests")
    tiers, commit = data["tiers"], str(data.get("commit", ""))[:7]
    return (
        f"At the last measure (commit {commit}, `benchmarks/results/tests.json`) the default tier "
        f"took {fmt(tiers['default']['seconds'], 'min')} on {data['machine']['cpus']} cores and "
        f"the system tier {fmt(tiers['system']['seconds'], 'min')}."
    )


def _scoring() -> str:
    """The compiled scorer against LightGBM's own predictor, on one core, and the catalogue."""
    data = load("scoring")
    batch, process, catalogue = data["batch"], data["process"], data["catalogue"]
    large = process["test_split_x8"]
    rows = [
        [
            f"`predict_file`, the test split ({fmt(batch['rows'])} rows, in process)",
            f"{fmt(batch['compiled']['rows_per_s'], ',.0f')} rows/s",
            fmt(batch["speedup"], "x"),
        ],
        [
            f"`music-genre predict`, whole process, {fmt(large['rows'])} rows",
            f"{fmt(large['compiled']['rows_per_s'], ',.0f')} rows/s",
            fmt(large["speedup"], "x"),
        ],
        [
            f"`music-genre predict`, whole process, {fmt(process['test_split']['rows'])} rows "
            "(start-up dominates)",
            f"{fmt(process['test_split']['compiled']['rows_per_s'], ',.0f')} rows/s",
            fmt(process["test_split"]["speedup"], "x"),
        ],
        [
            "one song in process, p50",
            fmt(data["single_row"]["compiled"]["validated_and_scored"]["p50_ms"], "ms"),
            fmt(data["single_row"]["p50_booster_over_compiled"], "x"),
        ],
        [
            "one song over REST (monitoring on), p50",
            fmt(data["rest"]["compiled"]["p50_ms"], "ms"),
            fmt(data["rest"]["p50_booster_over_compiled"], "x"),
        ],
        [
            f"a catalogue of {fmt(catalogue['rows'])} tracks (`predict_file`'s rate)",
            fmt(catalogue["compiled_predict_file_h"] * 3600, "min"),
            fmt(catalogue["booster_predict_file_h"] / catalogue["compiled_predict_file_h"], "x"),
        ],
    ]
    return table(["scoring on one core (`benchmarks/results/scoring.json`)", "compiled scorer",
                  "vs LightGBM's predictor"], rows)  # fmt: skip


BLOCKS: dict[str, Callable[[], str]] = {
    "results": _results,
    "dag": _dag,
    "tiers": _tiers,
    "scoring": _scoring,
}


def render(text: str) -> str:
    """`text` with every generated block rewritten; an unknown block name is an error."""

    def one(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise KeyError(f"README.md: unknown generated block '{name}'")
        return f"{match.group(1)}{BLOCKS[name]()}\n{match.group(4)}"

    return _BLOCK.sub(one, text)


def block_names(text: str) -> list[str]:
    return [match.group("name") for match in _BLOCK.finditer(text)]


def stale_blocks(text: str) -> list[str]:
    """The generated blocks of `text` whose content is not what the sources give now."""
    return [
        match.group("name")
        for match in _BLOCK.finditer(text)
        if match.group("name") not in BLOCKS
        or match.group("body") != BLOCKS[match.group("name")]() + "\n"
    ]
