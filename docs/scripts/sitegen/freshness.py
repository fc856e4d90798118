"""Is a result older than the code it measures? Decided from git history and dvc.lock, so the
same commit always gives the same answer.

- A benchmark result (benchmarks/results/*.json, the tuner's study) was measured at the commit
  it records (`"commit"`, a full hash), else at the last commit that changed the file; an
  uncommitted result counts as measured on the code of the workspace. It is stale when a later
  commit up to HEAD changed one of the paths it measures (MEASURES).
- metrics/ are outputs of dvc.yaml stages: they are stale when a code or params dependency that
  dvc.lock recorded for their stage no longer has the recorded md5 or value (what `dvc status`
  would call a changed dependency; data dependencies not in the workspace are not checked).
"""

from __future__ import annotations

import hashlib
import subprocess  # nosec B404: git only, fixed arguments
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from sitegen.sources import ROOT

# What each result measures: a change to any of these paths after the result was written makes
# it stale. The pipeline's code, params and contract, and the benchmark script itself.
_PIPELINE = ("src", "stages", "dvc.yaml", "params.yaml", "contract.yaml")
MEASURES: dict[str, tuple[str, ...]] = {
    "benchmarks/results/pipeline.json": (
        *_PIPELINE,
        "benchmarks/pipeline.py",
        "benchmarks/bare_pipeline.py",
    ),
    "benchmarks/results/serving.json": (
        "src",
        "params.yaml",
        "contract.yaml",
        "benchmarks/serving.py",
    ),
    "benchmarks/results/scoring.json": (
        "src/music_genre/modeling",
        "src/music_genre/serving",
        "params.yaml",
        "contract.yaml",
        "benchmarks/scoring.py",
        "benchmarks/alternatives.py",
    ),
    "benchmarks/results/tune.json": (*_PIPELINE, "benchmarks/tune.py"),
    "benchmarks/results/refit.json": (
        "src/music_genre/modeling",
        "src/music_genre/pipeline/train.py",
        "src/music_genre/data/splits.py",
        "params.yaml",
        "contract.yaml",
        "benchmarks/refit.py",
    ),
    "benchmarks/results/text_features.json": (
        "src/music_genre/modeling",
        "src/music_genre/pipeline/train.py",
        "src/music_genre/data/splits.py",
        "params.yaml",
        "contract.yaml",
        "benchmarks/text_features.py",
    ),
    "benchmarks/results/ensembles.json": (
        "src/music_genre/modeling",
        "src/music_genre/pipeline/train.py",
        "src/music_genre/data/splits.py",
        "params.yaml",
        "contract.yaml",
        "benchmarks/ensembles.py",
    ),
    "benchmarks/results/sweep.json": (*_PIPELINE, "benchmarks/sweep.py"),
    "benchmarks/results/report.json": (*_PIPELINE, "benchmarks/report.py"),
    "benchmarks/results/python_versions.json": (
        *_PIPELINE,
        "requirements.txt",
        "benchmarks/python_versions.py",
    ),
    "benchmarks/results/install.json": (
        "pyproject.toml",
        "requirements.txt",
        "requirements",
        "src",
        "Dockerfile",
        "tests/support/containers.py",
        "benchmarks/install.py",
    ),
    "benchmarks/results/tests.json": (
        "src",
        "stages",
        "tests",
        ".ci/run",
        "pyproject.toml",
        "requirements.txt",
        "benchmarks/tiers.py",
    ),
}
# The tuner's committed study: its search code, the training recipe it replays, the splits.
STUDY_MEASURES = ("src/music_genre/experiments", "src/music_genre/modeling", "src/music_genre/data")
_HASH = 40


@dataclass(frozen=True)
class Freshness:
    """When a result was measured, and the commits since that changed what it measures."""

    path: str
    measures: tuple[str, ...]
    measured: str | None = None  # short commit; None: the workspace, or no history
    measured_date: str | None = None
    changed: tuple[tuple[str, str, str], ...] = ()  # (short commit, date, subject), newest first
    unknown: str | None = None  # why staleness cannot be told

    @property
    def stale(self) -> bool:
        return bool(self.changed)


def _git(*args: str) -> str:
    done = subprocess.run(  # nosec B603: fixed git arguments
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise LookupError(done.stderr.strip().splitlines()[0] if done.stderr.strip() else "git")
    return done.stdout.strip()


def _recorded_commit(path: str) -> str | None:
    if not path.endswith(".json") or not (ROOT / path).is_file():
        return None
    import json

    recorded = json.loads((ROOT / path).read_text(encoding="utf-8")).get("commit")
    if isinstance(recorded, str) and len(recorded) == _HASH:
        try:
            return _git("rev-parse", "--verify", "--quiet", f"{recorded}^{{commit}}")
        except LookupError:
            return None
    return None


@cache
def result_freshness(path: str, measures: tuple[str, ...] | None = None) -> Freshness:
    """The freshness of one committed result file (or folder), against HEAD."""
    measures = measures or MEASURES.get(path, _PIPELINE)
    try:
        if _git("status", "--porcelain", "--", path):
            return Freshness(path, measures)  # written in this workspace: on its code
        measured = _recorded_commit(path) or _git("log", "-1", "--format=%H", "--", path)
        if not measured:
            return Freshness(path, measures, unknown=f"{path} is not in git history")
        date = _git("log", "-1", "--format=%cs", measured)
        log = _git("log", "--format=%h%x09%cs%x09%s", f"{measured}..HEAD", "--", *measures)
    except (LookupError, OSError) as error:
        return Freshness(path, measures, unknown=f"no git history here ({error})")
    rows = (line.split("\t", 2) for line in log.splitlines() if line)
    changed = tuple((sha, day, subject) for sha, day, subject in rows)
    return Freshness(path, measures, measured[:7], date, changed)


@dataclass(frozen=True)
class StageFreshness:
    """A dvc.yaml stage's recorded dependencies (dvc.lock) against the workspace."""

    stage: str
    changed: tuple[str, ...] = ()
    not_checked: tuple[str, ...] = field(default=())

    @property
    def stale(self) -> bool:
        return bool(self.changed)


def _md5(path: str) -> str:
    return hashlib.md5((ROOT / path).read_bytes(), usedforsecurity=False).hexdigest()


def _params_changed(recorded: dict[str, Any], params: dict[str, Any]) -> list[str]:
    changed = []
    for key, value in recorded.items():
        node: Any = params
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != value:
            changed.append(f"params.yaml:{key}")
    return changed


@cache
def stage_freshness(stage: str) -> StageFreshness:
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    if stage not in lock:
        return StageFreshness(stage, changed=(f"dvc.lock has no stage '{stage}'",))
    changed: list[str] = []
    not_checked: list[str] = []
    for dep in lock[stage].get("deps", []):
        path, md5 = dep["path"], dep.get("md5", "")
        if md5.endswith(".dir") or not (ROOT / path).is_file():
            not_checked.append(path)
        elif _md5(path) != md5:
            changed.append(path)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for recorded in lock[stage].get("params", {}).values():
        changed += _params_changed(recorded, params)
    return StageFreshness(stage, tuple(changed), tuple(not_checked))


@cache
def producing_stage(output: str) -> str | None:
    """The dvc.lock stage whose outputs include `output` (a file or a folder above it)."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    for name, stage in lock.items():
        for out in stage.get("outs", []):
            if output == out["path"] or output.startswith(out["path"].rstrip("/") + "/"):
                return str(name)
    return None
