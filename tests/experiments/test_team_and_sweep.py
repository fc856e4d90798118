"""Experiments shared through the remotes, and sweeps on a real Dask scheduler with two workers.

Everything on 127.0.0.1: a bare git repository is the git remote, a local directory the DVC
remote, `dask scheduler` and `dask worker` run as separate processes with their own directories.
The project is the synthetic source with a small LightGBM, so an experiment takes seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from music_genre.core.fileio import sha256_file
from music_genre.experiments.sweep import experiment_name
from support.cluster import dask_cluster
from support.project import clone_project, run, set_params, tool_env

pytestmark = pytest.mark.dask

GRID = ["train.lightgbm.num_leaves=5,9,13"]


@pytest.fixture(scope="module")
def remotes(tmp_path_factory, synthetic_project) -> dict[str, Path]:
    """Person A's project, run and pushed: the git remote holds main, the DVC remote its data.

    A clone of the shared synthetic project (small LightGBM), so nothing is re-run here."""
    root = tmp_path_factory.mktemp("team")
    project = clone_project(synthetic_project, root / "alice")
    run(["git", "remote", "remove", "origin"], project)
    run(["git", "init", "-q", "--bare", str(root / "remote.git")], root)
    run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], root / "remote.git")
    run(["dvc", "remote", "add", "-f", "-d", "team", str(root / "dvc-store")], project)
    run(["git", "commit", "-qam", "the team's DVC remote"], project)
    run(["git", "remote", "add", "origin", str(root / "remote.git")], project)
    run(["git", "push", "-q", "origin", "main"], project)
    run(["dvc", "push"], project)
    return {"root": root, "alice": project, "git": root / "remote.git"}


def clone(remotes: dict[str, Path], name: str) -> Path:
    target = remotes["root"] / name
    run(["git", "clone", "-q", str(remotes["git"]), str(target)], remotes["root"])
    return target


def exp_ref(project: Path, name: str) -> str:
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], project).stdout
    return next(ref for ref in refs.split() if ref.endswith(f"/{name}"))


def model_md5(project: Path, rev: str) -> str:
    lock = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], project).stdout)
    outs = lock["stages"]["train"]["outs"]
    return next(out["md5"] for out in outs if out["path"] == "models/model.joblib")


def test_two_clones_share_experiments_byte_identical_without_rerunning(remotes):
    alice = remotes["alice"]
    run(["dvc", "exp", "run", "-n", "alice-leaves7", "-S", "train.lightgbm.num_leaves=7"], alice)
    alice_model = sha256_file(alice / "models/model.joblib")
    alice_metrics = (alice / "metrics/evaluate/metrics.json").read_text()
    run(["dvc", "exp", "push", "origin", "alice-leaves7"], alice)
    run(["git", "checkout", "-q", "--", "."], alice)
    run(["dvc", "checkout", "-q"], alice)

    bob = clone(remotes, "bob")
    assert "alice-leaves7" in run(["dvc", "exp", "list", "origin"], bob).stdout
    run(["dvc", "exp", "pull", "origin", "alice-leaves7"], bob)
    shown = run(["dvc", "exp", "show", "--md", "--no-pager"], bob).stdout
    assert "alice-leaves7" in shown and "main" in shown
    run(["dvc", "exp", "apply", "alice-leaves7"], bob)
    assert sha256_file(bob / "models/model.joblib") == alice_model
    assert (bob / "metrics/evaluate/metrics.json").read_text() == alice_metrics
    status = run(["dvc", "repro", "--dry"], bob).stdout
    assert "Running stage" not in status  # nothing to re-run: every output came from the remote
    diff = run(["dvc", "metrics", "diff", "main", "--md"], bob).stdout
    assert "roc_auc" in diff
    plots = run(["dvc", "plots", "diff", "main", "-o", str(remotes["root"] / "plots")], bob)
    assert plots.returncode == 0
    run(["git", "checkout", "-q", "--", "."], bob)
    run(["dvc", "exp", "branch", "alice-leaves7", "leaves7"], bob)
    assert model_md5(bob, "leaves7") == model_md5(bob, exp_ref(bob, "alice-leaves7"))


def sweep(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run(
        [str(Path(sys.executable).with_name("music-genre")), "sweep", *args], project, check=False
    )


def start_sweep(project: Path, *args: str) -> subprocess.Popen:
    """`music-genre sweep` in the background, its output (stdout and stderr) as text lines."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("music-genre")), "sweep", *args],
        cwd=project,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sweep_on_two_dask_workers_gives_local_bytes_and_resumes(remotes):
    carol = clone(remotes, "carol")
    commit = run(["git", "rev-parse", "HEAD"], carol).stdout.strip()
    with dask_cluster(remotes["root"] / "cluster", 2) as cluster:
        result = sweep(
            carol, *[a for p in GRID for a in ("-S", p)], "--scheduler", cluster["address"]
        )
        assert result.returncode == 0, result.stdout + result.stderr
        lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
        assert len(lines) == 3 and all(" done " in line for line in lines)
        # Both workers took part, each experiment in a clone of its own (removed once pushed).
        assert len({line.rsplit(" on ", 1)[1] for line in lines}) == 2
        assert not any(any(d.glob("music-genre-sweep-*/repo")) for d in cluster["dirs"])
        assert (
            len([*cluster["dirs"][0].glob("music-genre-sweep-*/experiment.log")])
            + len([*cluster["dirs"][1].glob("music-genre-sweep-*/experiment.log")])
            == 3
        )
        names = [experiment_name(commit, (f"train.lightgbm.num_leaves={v}",)) for v in (5, 9, 13)]
        # Sorted by validation roc_auc, best first, and pulled into carol's workspace.
        shown = [name for name in _names_in_order(result.stdout) if name in names]
        assert sorted(shown) == sorted(names)
        aucs = [_auc(carol, exp_ref(carol, name)) for name in shown]
        assert aucs == sorted(aucs, reverse=True)

        # A second run of the same grid finds everything on the remote and runs nothing.
        again = sweep(carol, "-S", GRID[0], "--scheduler", cluster["address"])
        assert again.returncode == 0
        assert "0 to run, 3 already on 'origin'" in again.stdout

    # Same bytes as `dvc exp run` with the same parameters on this machine.
    run(["dvc", "pull", "-q"], carol)
    run(["dvc", "exp", "run", "-n", "local-leaves9", "-S", "train.lightgbm.num_leaves=9"], carol)
    assert model_md5(carol, exp_ref(carol, "local-leaves9")) == model_md5(
        carol, exp_ref(carol, names[1])
    )
    for metrics in ("metrics/train/metrics.json", "metrics/evaluate/metrics.json"):
        local = run(["git", "show", f"{exp_ref(carol, 'local-leaves9')}:{metrics}"], carol).stdout
        remote = run(["git", "show", f"{exp_ref(carol, names[1])}:{metrics}"], carol).stdout
        assert json.loads(local) == json.loads(remote)


def _names_in_order(table: str) -> list[str]:
    return re.findall(r"\[(sweep-[0-9a-f]{7}-[0-9a-f]{10})\]", table)


def _auc(project: Path, ref: str) -> float:
    metrics = run(["git", "show", f"{ref}:metrics/train/metrics.json"], project).stdout
    return json.loads(metrics)["roc_auc"]


def test_sweep_refuses_uncommitted_and_unpushed_work(remotes):
    dave = clone(remotes, "dave")
    set_params(dave, train__lightgbm__num_leaves=21)
    dirty = sweep(dave, "-S", "train.lightgbm.num_leaves=5", "--workers", "1")
    assert dirty.returncode == 1
    assert "uncommitted changes (params.yaml): workers clone the commit" in dirty.stderr
    run(["git", "commit", "-qam", "local only"], dave)
    unpushed = sweep(dave, "-S", "train.lightgbm.num_leaves=5", "--workers", "1")
    assert unpushed.returncode == 1
    assert "is not on the git remote 'origin'" in unpushed.stderr
    bad = sweep(dave, "-S", "train.lightgbm.num_leaves=5,,", "--workers", "1")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_a_killed_worker_and_an_unreachable_remote(remotes, closed_port):
    erin = clone(remotes, "erin")
    broken = remotes["root"] / "broken-dvc-config"
    broken.write_text(f"['remote \"team\"']\n    url = http://127.0.0.1:{closed_port}/store\n")
    grid = ["-S", "train.lightgbm.num_leaves=6,10"]
    with dask_cluster(remotes["root"] / "cluster-kill", 2) as cluster:
        process = start_sweep(erin, *grid, "--scheduler", cluster["address"])
        # Kill the first worker that has a clone under way: Dask runs its task again elsewhere.
        victim = _wait_for_a_clone(cluster, timeout=120)
        os.kill(cluster["workers"][victim].pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output
    done = [line for line in output.splitlines() if line.startswith("[") and " done " in line]
    assert len(done) == 2
    listed = run(["dvc", "exp", "list", "origin", "--name-only"], erin).stdout.split()
    commit = run(["git", "rev-parse", "HEAD"], erin).stdout.strip()
    for leaves in (6, 10):
        assert listed.count(experiment_name(commit, (f"train.lightgbm.num_leaves={leaves}",))) == 1

    # One worker whose DVC remote is unreachable (its own config): its experiment fails with a
    # readable reason, the other worker's completes, the sweep exits non-zero.
    with dask_cluster(
        remotes["root"] / "cluster-broken",
        2,
        **{"1": {"MUSIC_GENRE_SWEEP_DVC_CONFIG": str(broken)}},
    ) as cluster:
        result = sweep(
            erin, "-S", "train.lightgbm.num_leaves=3,4", "--scheduler", cluster["address"]
        )
    assert result.returncode == 1
    assert "1 of 2 experiment(s) failed" in result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 1 and "(log: " in failed[0]
    assert "127.0.0.1" in failed[0] or "team" in failed[0]
    assert sum(" done " in line for line in result.stdout.splitlines()) == 1


def _wait_for_a_clone(cluster: dict, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index, directory in enumerate(cluster["dirs"]):
            if any(directory.glob("music-genre-sweep-*/repo/dvc.yaml")):
                return index
        time.sleep(0.2)
    raise AssertionError("no worker started an experiment")


def test_an_interrupted_coordinator_resumes_where_it_stopped(remotes):
    frank = clone(remotes, "frank")
    grid = ["-S", "train.lightgbm.num_leaves=8,12,16"]
    with dask_cluster(remotes["root"] / "cluster-resume", 1) as cluster:
        process = start_sweep(frank, *grid, "--scheduler", cluster["address"])
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("[1/3] done"):
                break
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        resumed = sweep(frank, *grid, "--scheduler", cluster["address"])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    skipped = resumed.stdout.count("  skip ")
    ran = sum(" done " in line for line in resumed.stdout.splitlines())
    assert skipped >= 1 and skipped + ran == 3
    listed = run(["dvc", "exp", "list", "origin", "--name-only"], frank).stdout.split()
    commit = run(["git", "rev-parse", "HEAD"], frank).stdout.strip()
    for leaves in (8, 12, 16):
        assert listed.count(experiment_name(commit, (f"train.lightgbm.num_leaves={leaves}",))) == 1
