"""experiments.task: one sweep experiment, run in process on what fails before DVC is needed."""

import socket
from pathlib import Path

import pytest

from music_genre.experiments.task import (
    WORKDIR_ENV,
    ExperimentSpec,
    _reason,
    run_experiment,
)
from support.project import run


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv(WORKDIR_ENV, str(tmp_path / "work"))
    return tmp_path / "work"


def _log(result) -> Path:
    host, _, path = result["log"].partition(":")
    assert host == socket.gethostname()
    return Path(path)


def test_an_unreachable_git_remote_fails_the_clone_step_with_its_reason(tmp_path, workdir):
    spec = ExperimentSpec("exp-a", ("train.lightgbm.num_leaves=7",), str(tmp_path / "nope"), "HEAD")
    result = run_experiment(spec)
    assert result["ok"] is False and result["name"] == "exp-a"
    assert result["reason"].startswith("clone: `git clone --quiet` failed: ")
    assert "nope" in result["reason"]
    log = _log(result)
    assert log.is_file() and log.is_relative_to(workdir)
    assert "$ git clone" in log.read_text()
    assert "clone" in result["seconds"]
    # Outside a Dask worker the worker is this host.
    assert result["worker"] == socket.gethostname()


def test_a_commit_without_the_package_is_refused_before_running(tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    run(["git", "init", "-q", "-b", "main"], remote)
    (remote / "README.md").write_text("no code here\n")
    run(["git", "add", "-A"], remote)
    run(["git", "commit", "-qm", "no package"], remote)
    commit = run(["git", "rev-parse", "HEAD"], remote).stdout.strip()
    result = run_experiment(ExperimentSpec("exp-b", (), str(remote), commit))
    assert result["ok"] is False
    assert result["reason"].startswith("the experiment would import music_genre from ")
    assert "not from its clone" in result["reason"]
    assert set(result["seconds"]) == {"clone"}


def test_the_reason_is_the_last_error_line_or_the_last_line_and_is_short():
    assert _reason(["a\n", "ERROR: first\n", "b\n", "ERROR: second\n", "c\n"]) == "ERROR: second"
    assert _reason(["starting\n", "  the end  \n", "\n"]) == "the end"
    assert _reason([]) == "no output"
    long = _reason(["x" * 1000])
    assert len(long) == 300 and long.endswith("...")
