"""`music-genre tune` on real Dask clusters and in a DVC project: one worker reproduces the
in-process study exactly, a killed worker costs only its running trial, and the best trial is
left behind as an ordinary DVC experiment whose validation score is the study's best."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from music_genre.data.contract import load_contract
from music_genre.data.synthetic import generate
from music_genre.pipeline.preprocess import preprocess
from support.cluster import dask_cluster
from support.models import small_model_params
from support.project import PROJECT_ROOT, clone_project, run, tool_env

pytestmark = pytest.mark.dask

SPACE = {
    "train.lightgbm.learning_rate": {"low": 0.02, "high": 0.3, "log": True},
    "train.lightgbm.num_leaves": {"low": 4, "high": 31},
    "tfidf.max_features": {"choices": [50, 100]},
}


def _tune_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("music-genre")), "tune", *args]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tune-cluster")
    # The study runs in this folder, as in a project: its contract beside its params.
    shutil.copy(PROJECT_ROOT / "contract.yaml", folder / "contract.yaml")
    contract = load_contract(folder / "contract.yaml")
    table = preprocess(generate(3000, seed=4, contract=contract), contract)
    table.to_parquet(folder / "train.parquet", index=False)
    raw = small_model_params().model_dump()
    raw["train"]["n_threads"] = 1
    raw["train"]["lightgbm"]["n_estimators"] = 200
    raw["tune"] = {
        "study": "cluster-study",
        "seed": 3,
        "metric": "roc_auc",
        "n_trials": 8,
        "timeout_s": None,
        "pruning": {"percentile": 50.0, "startup_trials": 3, "every": 0.5, "warmup": 1.0},
        "space": SPACE,
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def _trials(folder: Path) -> list[tuple]:
    report = json.loads((folder / "plots" / "tune" / "cluster-study" / "trials.json").read_text())
    return [(row["number"], row["state"], row["params"], row["value"]) for row in report["trials"]]


def _tune(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return run(
        _tune_command("--no-experiment", "--train", "train.parquet", *args), folder, check=False
    )


def test_one_dask_worker_reproduces_the_in_process_study(study_dir, tmp_path):
    here = _tune(study_dir)
    assert here.returncode == 0, here.stderr
    expected = _trials(study_dir)
    assert len(expected) == 8
    with dask_cluster(tmp_path / "one", 1) as cluster:
        remote = _tune(study_dir, "--scheduler", cluster["address"])
    assert remote.returncode == 0, remote.stderr
    assert _trials(study_dir) == expected


def _start_tune(folder: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        _tune_command("--no-experiment", "--train", "train.parquet", "--scheduler", address),
        cwd=folder,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _worker_running_a_trial(client) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any("music-genre-tune-" in str(key) for key in keys):
                return address
        time.sleep(0.05)
    raise AssertionError("no trial started")


def _assert_the_budget_is_met(process: subprocess.Popen, folder: Path) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    finished = [row for row in _trials(folder) if row[1] in ("complete", "pruned")]
    assert len(finished) == 8, output
    assert "8 trial(s) finished" in output
    return output


def test_two_workers_share_the_study_and_a_killed_worker_costs_its_trial(study_dir, tmp_path):
    from dask.distributed import Client

    with dask_cluster(tmp_path / "two", 2) as cluster:
        process = _start_tune(study_dir, cluster["address"])
        with Client(cluster["address"], timeout="30s") as client:
            pids = client.run(os.getpid)  # worker address -> process id
            victim = pids[_worker_running_a_trial(client)]
            os.kill(victim, signal.SIGKILL)
        # Dask runs the killed worker's task again on the other worker: the budget is met.
        _assert_the_budget_is_met(process, study_dir)
    assert victim in {process.pid for process in cluster["workers"]}


def test_the_worker_holding_the_only_copy_of_the_table_is_killed(study_dir, tmp_path):
    """Dask's Active Memory Manager drops the extra copies of the scattered table between
    trials; losing the worker that holds the last one cancels every trial. The tuner scatters
    the table again and runs those trials again (seen in CI: `FuturesCancelledError`)."""
    from dask.distributed import Client

    with dask_cluster(tmp_path / "only-copy", 2) as cluster:
        process = _start_tune(study_dir, cluster["address"])
        with Client(cluster["address"], timeout="30s") as client:
            pids = client.run(os.getpid)
            _worker_running_a_trial(client)
            tables = [key for key in client.who_has() if "music-genre-tune-" not in str(key)]
            assert len(tables) == 1, tables
            # What the memory manager does between trials (the scheduler's own call: the table
            # is the tuner's, and this client holds no future of it).
            client.sync(client.scheduler.replicate, keys=tables, n=1)
            (holder,) = client.who_has()[tables[0]]
            os.kill(pids[holder], signal.SIGKILL)
        output = _assert_the_budget_is_met(process, study_dir)
    assert "scattered again" in output
    # Every cancelled trial ran again: none was given up as failed.
    assert not [row for row in _trials(study_dir) if row[1] == "fail"], output


def test_the_best_trial_becomes_a_dvc_experiment(synthetic_project, tmp_path):
    project = clone_project(synthetic_project, tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["tune"].update(n_trials=3, study="probe-study")
    params["tune"]["space"] = {
        "train.lightgbm.learning_rate": {"low": 0.05, "high": 0.3, "log": True},
        "train.lightgbm.min_child_samples": {"low": 5, "high": 40},
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "-qam", "a small search"], project)
    result = run(_tune_command(), project, check=False)
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads((project / "plots/tune/probe-study/trials.json").read_text())
    best = report["best"]
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = {
        exp["name"]: exp
        for row in shown
        for group in (row.get("experiments") or [])
        for exp in group.get("revs", [])
        if exp.get("name")
    }
    assert "probe-study" in experiments, list(experiments)
    data = experiments["probe-study"]["data"]
    lightgbm = data["params"]["params.yaml"]["data"]["train"]["lightgbm"]
    expected = best["params"]["train.lightgbm.learning_rate"]
    assert lightgbm["learning_rate"] == pytest.approx(expected)
    assert lightgbm["min_child_samples"] == best["params"]["train.lightgbm.min_child_samples"]
    auc = data["metrics"]["metrics/train/metrics.json"]["data"]["roc_auc"]
    assert auc == best["value"]  # scored exactly as train scores it
