"""Shared fixtures: the real data (through the mirror), synthetic tables, project copies."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest

from music_genre.core.params import set_dotted
from music_genre.data.features import OPTIONAL_COLUMNS, REQUIRED_INPUT_COLUMNS
from music_genre.data.synthetic import generate
from music_genre.pipeline.get_data import MIRROR_ENV, find_in_mirrors
from music_genre.pipeline.preprocess import preprocess

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_SHA256 = "cd6a292e67639ad0e0c14082e092e57a4bcbb5535305aa2bdf200aac23324000"
# CI sets this so that a missing real dataset fails the run instead of skipping tests.
REQUIRE_REAL_DATA_ENV = "MUSIC_GENRE_REQUIRE_REAL_DATA"


def _mirror_dirs() -> list[Path]:
    return [Path(part) for part in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if part]


def real_data_path() -> Path | None:
    return find_in_mirrors(REAL_SHA256, _mirror_dirs())


def missing_real_data(message: str) -> None:
    """Skip the test, or fail it where CI requires the real data (and what is made from it)."""
    if os.environ.get(REQUIRE_REAL_DATA_ENV) == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = real_data_path()
    if path is None:
        missing_real_data(f"the real dataset (sha256 {REAL_SHA256[:12]}...) is not in {MIRROR_ENV}")
    return path


@pytest.fixture(scope="session")
def real_table(real_data: Path) -> pd.DataFrame:
    return pd.read_parquet(real_data)


@pytest.fixture
def synthetic_raw() -> pd.DataFrame:
    return generate(3000, seed=7)


@pytest.fixture
def synthetic_prepared(synthetic_raw: pd.DataFrame) -> pd.DataFrame:
    return preprocess(synthetic_raw)


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for dvc/git subprocesses: this interpreter's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        DVC_NO_ANALYTICS="1",
    )
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args,
        cwd=cwd,
        env=tool_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def copy_project(destination: Path) -> Path:
    """Copy the git-tracked files of this project into a fresh git repository."""
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = PROJECT_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    run(["git", "init", "-q", "-b", "main"], destination)
    run(["git", "add", "-A"], destination)
    run(["git", "commit", "-q", "-m", "copy of the project"], destination)
    return destination


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def set_params(project_dir: Path, **updates: object) -> None:
    """Set dotted keys in a project's params.yaml (for example data__source='...')."""
    import yaml

    path = project_dir / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        set_dotted(params, dotted, value, separator="__")
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def small_model_params():
    """The committed params with the default estimator made small (SMALL_MODEL_ARGUMENTS)."""
    from music_genre.core.params import load_params

    params = load_params(PROJECT_ROOT / "params.yaml")
    estimator = params.train.model
    small = {**getattr(params.train, estimator), **SMALL_MODEL_ARGUMENTS.get(estimator, {})}
    return params.model_copy(update={"train": params.train.model_copy(update={estimator: small})})


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """A small model of the default estimator, trained by the real train() on a synthetic
    table (beside it as train.parquet); returns its path."""
    from music_genre.pipeline.train import train

    workdir = tmp_path_factory.mktemp("small_model")
    train_path = workdir / "train.parquet"
    preprocess(generate(4000, seed=11)).to_parquet(train_path, index=False)
    model_path = workdir / "model.joblib"
    train(
        small_model_params(),
        str(train_path),
        str(model_path),
        str(workdir / "metrics"),
        str(workdir / "plots"),
    )
    return model_path


# Fewer rounds or trees than the committed params, so fixtures train in a second or two.
SMALL_MODEL_ARGUMENTS = {
    "lightgbm": {"n_estimators": 60},
    "random_forest": {"n_estimators": 25, "max_depth": 10},
    "hist_gradient_boosting": {"max_iter": 40},
}


@pytest.fixture
def songs() -> pd.DataFrame:
    """Raw songs as a client sends them: no text_feature, the dataset's missing values."""
    return generate(300, seed=5).drop(columns=["genre"])


def as_request_songs(frame):
    """Rows as JSON-ready dicts (NaN -> null), only the columns the API accepts."""
    records = frame[[*REQUIRED_INPUT_COLUMNS, *OPTIONAL_COLUMNS]].to_dict("records")
    return [
        {
            key: (None if isinstance(value, float) and math.isnan(value) else value)
            for key, value in record.items()
        }
        for record in records
    ]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (until someone binds it)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def http_url(tmp_path):
    """Serve tmp_path/www over http on 127.0.0.1; returns name -> URL."""
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    server.shutdown()
    server.server_close()


def clone_project(source: Path, destination: Path) -> Path:
    """A git clone of `source` that shares its DVC cache contents and has its outputs."""
    run(["git", "clone", "-q", str(source), str(destination)], destination.parent)
    shutil.copytree(source / ".dvc" / "cache", destination / ".dvc" / "cache")
    run(["dvc", "checkout"], destination)
    return destination


@pytest.fixture(scope="session")
def synthetic_project(tmp_path_factory, worker_id) -> Path:
    """A project copy whose pipeline ran on a small synthetic table with the default model
    (fewer rounds), results committed: built once per pytest run, however many xdist workers.

    Tests clone it with clone_project() (git repository + DVC cache) instead of re-running the
    pipeline; none of them changes it.
    """
    from filelock import FileLock

    # Every worker's base temp dir is below one directory per run; outside xdist, the run's own.
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    project = shared / "synthetic_project" / "project"
    with FileLock(str(shared / "synthetic_project.lock")):
        if not (project / BUILT_MARKER).is_file():
            if project.parent.exists():
                shutil.rmtree(project.parent)  # a build that failed half-way
            copy_project(project)
            set_params(
                project,
                data__source="synthetic",
                data__sha256=None,
                data__synthetic_rows=3000,
                train__lightgbm__n_estimators=SMALL_MODEL_ARGUMENTS["lightgbm"]["n_estimators"],
                # Below the table's 387 terms, so the vocabulary's cut-off falls inside ties
                # (tests/integration/test_other_processors.py).
                tfidf__max_features=SYNTHETIC_TFIDF_TERMS,
            )
            repro = run(["dvc", "repro"], project)
            run(["git", "add", "-A"], project)
            run(["git", "commit", "-qm", "pipeline results on a synthetic table"], project)
            (project / REPRO_LOG).write_text(repro.stdout)
            (project / BUILT_MARKER).write_text("built\n")
    return project


SYNTHETIC_TFIDF_TERMS = 200
# Written inside .git once the shared project is complete, so a half-built one is rebuilt;
# beside it, what its `dvc repro` printed.
BUILT_MARKER = Path(".git") / "music-genre-built"
REPRO_LOG = Path(".git") / "music-genre-repro.log"


@contextmanager
def serving(model: Path, *options: str) -> Iterator[str]:
    """`music-genre serve` on a free port of 127.0.0.1; yields its base URL once it answers."""
    with serving_process(model, *options) as (base, _):
        yield base


@contextmanager
def serving_process(
    model: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """As serving(), yielding the base URL and the server's process (`env`: added variables)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "music_genre.cli",
            "serve",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited: {process.communicate()[1]}")
            try:
                if httpx.get(f"{base}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("server did not answer /ping within 90 s")
                time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def dask_cluster(root: Path, workers: int, **worker_env: dict[str, str]) -> Iterator[dict]:
    """A `dask scheduler` and `workers` `dask worker` processes (no nanny: a killed worker
    stays dead), each worker with its own directory."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    processes = [
        subprocess.Popen(
            [
                bin_dir / "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            env=tool_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    worker_dirs = []
    for index in range(workers):
        directory = root / f"worker{index}"
        directory.mkdir(parents=True)
        worker_dirs.append(directory)
        processes.append(
            subprocess.Popen(
                [
                    bin_dir / "dask",
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--local-directory",
                    str(directory / "dask"),
                    "--host",
                    "127.0.0.1",
                ],
                env=tool_env(
                    MUSIC_GENRE_SWEEP_WORKDIR=str(directory), **worker_env.get(str(index), {})
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        _wait_for_workers(address, workers)
        yield {"address": address, "workers": processes[1:], "dirs": worker_dirs}
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_workers(address: str, count: int) -> None:
    from dask.distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(count, timeout=120)
