"""MLflow's own programs on 127.0.0.1: `mlflow models serve` on an MLflow Model, and a real
tracking server (`mlflow server`, SQLite and a local artifact root) from its own environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from support.project import PROJECT_ROOT
from support.servers import free_port

# The full `mlflow` package conflicts with this project's pins, so the tracking server has an
# environment of its own: .ci/run creates it here from requirements/mlflow-server.txt.
SERVER_ENV_VAR = "MUSIC_GENRE_MLFLOW_SERVER"
DEFAULT_SERVER = PROJECT_ROOT / ".venv-mlflow" / "bin" / "mlflow"
REQUIRE_SERVER_ENV = "MUSIC_GENRE_REQUIRE_MLFLOW_SERVER"
STARTUP_SECONDS = 120


def mlflow_cli() -> str:
    """The `mlflow` command of this environment (mlflow-skinny's)."""
    return str(Path(sys.executable).with_name("mlflow"))


def server_executable() -> Path:
    """The tracking server's `mlflow`; skipped without it, failed where CI requires it."""
    path = Path(os.environ.get(SERVER_ENV_VAR) or DEFAULT_SERVER)
    if not path.is_file():
        message = (
            f"no MLflow tracking server at {path} (.ci/run installs it; or set {SERVER_ENV_VAR})"
        )
        if os.environ.get(REQUIRE_SERVER_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def _process(command: list[str], health: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `command` in its own process group; yield once GET `health` answers 200."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"mlflow-{os.getpid()}-{time.monotonic_ns()}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"{command[:3]} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{command[:3]} did not answer within {STARTUP_SECONDS} s")
            time.sleep(0.3)
        yield health
    finally:
        # MLflow starts uvicorn (and its workers) as children: end the whole group.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.unlink(missing_ok=True)


@contextmanager
def mlflow_serving(model_dir: Path, workers: int = 1) -> Iterator[str]:
    """`mlflow models serve --env-manager local` on `model_dir`; yields its base URL."""
    port = free_port()
    command = [
        mlflow_cli(),
        "models",
        "serve",
        "-m",
        str(model_dir),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
    ]
    with _process(command, f"http://127.0.0.1:{port}/ping"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def tracking_server(root: Path) -> Iterator[str]:
    """A real `mlflow server` with a SQLite store and artifacts under `root`; yields its URL."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    command = [
        str(server_executable()),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with _process(command, f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"
