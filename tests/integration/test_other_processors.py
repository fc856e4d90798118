"""Same bytes on other processors: the stages re-run in fresh processes as other machines would.

CI runs on one machine, so other machines are simulated on it: numpy's SIMD dispatch lowered
level by level (NPY_DISABLE_CPU_FEATURES, from the baseline up to the native level), one core or
two (the process's CPU affinity, which train.n_threads 0 follows), and OpenBLAS told to use
another core type's kernels (OPENBLAS_CORETYPE; left alone where this machine sets it, see
/work/.library/env). Each simulated machine runs segregate, train, evaluate and eda exactly as
dvc.yaml writes them, and the tuner's trial, and must produce the same bytes: model, card,
metrics, plots and split files.

The default tier does it on the shared synthetic project (its outputs, made by dvc repro at the
native level on one thread, against the baseline on two cores with another OpenBLAS core type);
the system tier on the real data, every dispatch level, against the committed dvc.lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from support.data import real_data_path
from support.project import clone_project, run, set_params, tool_env

STAGES = ("segregate", "train", "evaluate", "eda")
# The real-data test commits every output into dvc.lock, the MLflow Model's too, so it runs the
# package stage as well: the model directory must come out the same on every processor.
ALL_STAGES = ("segregate", "train", "package", "evaluate", "eda")
# Files that record train.n_threads (the params of the run): compared without that one key.
RECORDS_THREADS = {
    "models/model.json": ("params", "train"),
    "metrics/train/params.yaml": ("train",),
}
OTHER_CORE_TYPES = ("Haswell", "Sandybridge", "Prescott")

PROBE = """
import json, os
from numpy._core._multiarray_umath import __cpu_features__ as features, __cpu_dispatch__ as dispatch
from threadpoolctl import threadpool_info
blas = [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"]
print(json.dumps({
    "enabled": [name for name in dispatch if features.get(name)],
    "openblas": blas[0] if blas else None,
    "cpus": len(os.sched_getaffinity(0)),
}))
"""

TRIAL = """
import json, sys
from music_genre.core.params import load_params
from music_genre.experiments.trial import load_trial_data, run_trial
params = load_params("params.yaml")
result = run_trial(load_trial_data(params, "data/split/train.parquet"), params)
print(json.dumps({"scores": result.scores, "rounds": result.rounds}))
"""


@dataclass(frozen=True)
class Machine:
    """A processor simulated on this one."""

    name: str
    enabled: tuple[str, ...]  # numpy dispatch targets left on (the rest of what is found, off)
    cpus: int
    openblas: str | None = None
    disabled: tuple[str, ...] = ()

    def env(self) -> dict[str, str]:
        env = tool_env(NPY_DISABLE_CPU_FEATURES=" ".join(self.disabled))
        if self.openblas:
            env["OPENBLAS_CORETYPE"] = self.openblas
        return env

    def run(self, args: list[str], cwd: Path) -> str:
        cpus = set(sorted(os.sched_getaffinity(0))[: self.cpus])
        result = subprocess.run(  # preexec_fn: only the affinity
            args,
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{self.name}: {' '.join(args)} exited {result.returncode}\n{result.stderr}"
            )
        return result.stdout


def dispatch_levels() -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(name, enabled, disabled) for the baseline and each dispatch level this machine has."""
    from numpy._core._multiarray_umath import (
        __cpu_baseline__,
        __cpu_dispatch__,
        __cpu_features__,
    )

    found = tuple(name for name in __cpu_dispatch__ if __cpu_features__.get(name))
    baseline = __cpu_baseline__[-1] if __cpu_baseline__ else "baseline"
    return [(found[k - 1] if k else baseline, found[:k], found[k:]) for k in range(len(found) + 1)]


def other_core_type() -> str | None:
    """An OpenBLAS core type other than this machine's, unless the environment sets one."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return None
    from threadpoolctl import threadpool_info

    own = {
        str(info.get("architecture", "")).lower()
        for info in threadpool_info()
        if info.get("internal_api") == "openblas"
    }
    return next(kind for kind in OTHER_CORE_TYPES if kind.lower() not in own)


def machine(level: int, cpus: int, openblas: str | None = None) -> Machine:
    levels = dispatch_levels()
    name, enabled, disabled = levels[level]
    core = f", OpenBLAS {openblas}" if openblas else ""
    return Machine(f"{name}, {cpus} core(s){core}", enabled, cpus, openblas, disabled)


def check_simulated(machine: Machine, cwd: Path) -> None:
    """The simulation took effect: numpy runs at that level, OpenBLAS with that core type."""
    probe = json.loads(machine.run([sys.executable, "-c", PROBE], cwd))
    assert probe["enabled"] == list(machine.enabled), machine.name
    assert probe["cpus"] == min(machine.cpus, len(os.sched_getaffinity(0))), machine.name
    if machine.openblas:
        assert str(probe["openblas"]).lower() == machine.openblas.lower(), machine.name


def run_stages(machine: Machine, project: Path, names: tuple[str, ...] = STAGES) -> None:
    """Each stage's command as dvc.yaml writes it, in a fresh process, in dependency order."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    for stage in names:
        args = shlex.split(stages[stage]["cmd"])
        assert args[0] == "python", stage
        machine.run([sys.executable, *args[1:]], project)


def outputs(project: Path) -> list[Path]:
    """Every file the stages write (their outs, metrics and plots in dvc.yaml)."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    paths = []
    for stage in STAGES:
        for kind in ("outs", "metrics", "plots"):
            for entry in stages[stage].get(kind, []):
                paths.append(project / (entry if isinstance(entry, str) else next(iter(entry))))
    files = [p for path in paths for p in ([path] if path.is_file() else path.rglob("*"))]
    return sorted(p for p in files if p.is_file())


def fingerprint(project: Path) -> dict[str, str]:
    """sha256 of every output; files recording the thread count, without that one key."""
    prints = {}
    for path in outputs(project):
        name = path.relative_to(project).as_posix()
        if name in RECORDS_THREADS:
            content = yaml.safe_load(path.read_text())  # JSON is YAML too
            node = content
            for key in RECORDS_THREADS[name]:
                node = node[key]
            node.pop("n_threads")
            data = json.dumps(content, sort_keys=True).encode()
        else:
            data = path.read_bytes()
        prints[name] = hashlib.sha256(data).hexdigest()
    return prints


def assert_same_outputs(reference: dict[str, str], machine: Machine, project: Path) -> None:
    actual = fingerprint(project)
    assert sorted(actual) == sorted(reference), machine.name
    differ = [name for name in reference if actual[name] != reference[name]]
    assert not differ, f"{machine.name}: {len(differ)} output(s) differ: {', '.join(differ)}"


def trial_scores(machine: Machine, project: Path) -> dict:
    return json.loads(machine.run([sys.executable, "-c", TRIAL], project))


def assert_trial_scores_what_train_scored(machine: Machine, project: Path) -> None:
    trial = trial_scores(machine, project)
    metrics = json.loads((project / "metrics" / "train" / "metrics.json").read_text())
    assert trial["rounds"] == metrics["boosting_rounds"], machine.name
    for name, value in trial["scores"].items():
        assert value == metrics[name], f"{machine.name}: the trial's {name}"


def test_the_simulated_machines_are_distinct_and_take_effect(tmp_path):
    levels = dispatch_levels()
    assert levels[-1][2] == ()  # the native level disables nothing
    assert len({enabled for _, enabled, _ in levels}) == len(levels)
    lowest = machine(0, 1, other_core_type())
    check_simulated(lowest, tmp_path)


def test_other_processors_and_thread_counts_give_the_same_bytes(synthetic_project, tmp_path):
    """The small table: the shared project's outputs (dvc repro here: the native dispatch
    level, one thread, this machine's OpenBLAS kernels) are the reference; a machine that
    differs in all three at once (numpy's baseline, two cores and two threads, another OpenBLAS
    core type) must write the same bytes. The system tier runs every level on the real data."""
    project = clone_project(synthetic_project, tmp_path / "project")
    reference = fingerprint(project)
    # Threads follow the cores a process may use, so one core and two really differ.
    set_params(project, train__n_threads=0)
    other = machine(0, 2, other_core_type())
    check_simulated(other, project)
    run_stages(other, project)
    assert_same_outputs(reference, other, project)
    assert_trial_scores_what_train_scored(other, project)


@pytest.mark.realdata
def test_every_dispatch_level_reproduces_the_committed_lock_on_the_real_data(tmp_path):
    """The real data: each dispatch level on one core, the committed params (n_threads 1),
    must give the committed dvc.lock; then two cores with n_threads 0 and another OpenBLAS core
    type at the baseline and at the native level give the same bytes again."""
    from support.data import missing_real_data
    from support.project import copy_project

    if real_data_path() is None:
        missing_real_data("the real data is needed to check the committed dvc.lock")
    project = copy_project(tmp_path / "project")
    mirror = {"MUSIC_GENRE_DATA_MIRROR": os.environ.get("MUSIC_GENRE_DATA_MIRROR", "")}
    run(["dvc", "repro", "check_data"], project, **mirror)
    levels = dispatch_levels()
    reference: dict[str, str] | None = None
    for level in range(len(levels)):
        each = machine(level, 1)
        check_simulated(each, project)
        run_stages(each, project, ALL_STAGES)
        # DVC's own hashes of every output, written into dvc.lock: it must not change.
        run(["dvc", "commit", "--force"], project)
        lock = run(["git", "diff", "--", "dvc.lock"], project).stdout
        assert not lock, f"{each.name}: not the committed dvc.lock:\n{lock}"
        reference = reference or fingerprint(project)
        assert_same_outputs(reference, each, project)
        if level in (0, len(levels) - 1):  # the trial's recipe is train's: two levels suffice
            assert_trial_scores_what_train_scored(each, project)
    set_params(project, train__n_threads=0)
    for each in (machine(0, 2, other_core_type()), machine(len(levels) - 1, 2, other_core_type())):
        run_stages(each, project)
        assert_same_outputs(reference, each, project)
