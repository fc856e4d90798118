"""Recovery: a failed run is undone by `dvc checkout`; a killed run completes when re-run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from music_genre.core.fileio import sha256_file
from support.data import synthetic_songs
from support.project import clone_project, copy_project, run, set_params, tool_env

pytestmark = pytest.mark.recovery

TRACKED = (
    "data/raw/songs.parquet",
    "models/model.joblib",
    "models/model.json",
    "metrics/evaluate/metrics.json",
    "metrics/train/metrics.json",
)


def forest_project(root: Path, rows: int, trees: int) -> Path:
    project = copy_project(root)
    set_params(
        project,
        data__source="synthetic",
        data__sha256=None,
        data__synthetic_rows=rows,
        train__model="random_forest",
        train__random_forest__n_estimators=trees,
    )
    return project


def hashes(project: Path) -> dict[str, str]:
    return {name: sha256_file(project / name) for name in TRACKED}


def test_failed_repro_then_dvc_checkout_restores_the_good_outputs(tmp_path, synthetic_project):
    # The shared synthetic project's committed run is the good one.
    project = clone_project(synthetic_project, tmp_path / "project")
    good = hashes(project)

    bad = synthetic_songs(2000, seed=1)
    bad.loc[:5, "tempo"] = 900.0
    bad.to_parquet(tmp_path / "bad.parquet", index=False)
    set_params(project, data__source=str(tmp_path / "bad.parquet"))
    failed = run(["dvc", "repro"], project, check=False)
    assert failed.returncode != 0 and "check_data: error:" in failed.stderr
    assert sha256_file(project / "data/raw/songs.parquet") != good["data/raw/songs.parquet"]

    run(["git", "checkout", "--", "params.yaml", "metrics", "dvc.lock"], project)
    run(["dvc", "checkout"], project)
    assert hashes(project) == good
    assert "Running stage" not in run(["dvc", "repro"], project).stdout


def test_sigkill_during_train_then_repro_gives_the_uninterrupted_metrics(tmp_path):
    reference = forest_project(tmp_path / "reference", rows=10_000, trees=200)
    run(["dvc", "repro"], reference)
    expected = (reference / "metrics/evaluate/metrics.json").read_text()

    project = forest_project(tmp_path / "project", rows=10_000, trees=200)
    process = subprocess.Popen(
        ["dvc", "repro"],
        cwd=project,
        env=tool_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "fitting random_forest" in line:  # train has started fitting
            time.sleep(1.0)
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (project / "models/model.joblib").exists()
    assert (
        not (project / "metrics/evaluate/metrics.json").exists()
        or (project / "metrics/evaluate/metrics.json").read_text() != expected
    )

    # What a kill during the model's save leaves: the next run of train removes it.
    leftover = project / "models" / ".model.joblib.k1ll3d_x.tmp"
    leftover.parent.mkdir(exist_ok=True)
    leftover.write_bytes(b"half a model")
    finished = run(["dvc", "repro"], project)
    assert "Running stage 'train'" in finished.stdout
    assert not leftover.exists()
    assert (project / "metrics/evaluate/metrics.json").read_text() == expected
    assert sha256_file(project / "models/model.joblib") == sha256_file(
        reference / "models/model.joblib"
    )


def test_unreachable_remote_fails_clearly_and_touches_no_local_data(
    tmp_path, closed_port, synthetic_project
):
    project = clone_project(synthetic_project, tmp_path / "project")
    before = hashes(project)
    run(["dvc", "remote", "add", "broken", f"http://127.0.0.1:{closed_port}/store"], project)
    pushed = run(["dvc", "push", "-r", "broken"], project, check=False)
    assert pushed.returncode != 0
    assert "Cannot connect to host 127.0.0.1" in pushed.stderr
    assert "failed to push data to the cloud" in pushed.stderr
    # DVC's pull reports an unreachable remote as missing files (a warning, exit 0); what
    # matters here is that the workspace is left exactly as it was.
    shutil.rmtree(project / ".dvc" / "cache")
    pulled = run(["dvc", "pull", "-r", "broken"], project, check=False)
    assert "Missing cache files" in pulled.stderr
    assert "Traceback" not in pushed.stderr + pulled.stderr
    assert hashes(project) == before
