"""One experiment of a sweep, as it runs on a Dask worker: clone, pull, `dvc exp run`, push.

This module is shipped to the workers by value (cloudpickle), and uses only the standard library,
git and the `dvc` of the worker's environment: a worker needs the pinned requirements, not this
package, and the experiment runs the code of its own clone (its `src/` comes first on
PYTHONPATH), so a worker never mixes commits.
"""

from __future__ import annotations

import os
import shutil
import socket

# subprocess runs fixed git/dvc commands; the arguments come from the coordinator.
import subprocess  # nosec B404
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Where a worker keeps its clones and logs (default: the system's temporary directory).
WORKDIR_ENV = "MUSIC_GENRE_SWEEP_WORKDIR"
# Set on a worker to keep each clone after a successful experiment (for debugging).
KEEP_ENV = "MUSIC_GENRE_SWEEP_KEEP"
# A DVC config file of the worker's own (credentials, endpoints, another URL for the remote):
# it becomes each clone's .dvc/config.local, so secrets never travel through git or the sweep.
DVC_CONFIG_ENV = "MUSIC_GENRE_SWEEP_DVC_CONFIG"
GIT_REMOTE_NAME = "origin"


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    overrides: tuple[str, ...]  # `dvc exp run -S` arguments, one experiment's values
    git_remote: str
    commit: str


@dataclass
class ExperimentResult:
    name: str
    ok: bool
    reason: str = ""
    log: str = ""
    worker: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _StepError(Exception):
    pass


def run_experiment(spec: ExperimentSpec) -> dict[str, Any]:
    """Run one experiment in a fresh clone and push it; never raises for a failed experiment."""
    base = Path(os.environ.get(WORKDIR_ENV) or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"music-genre-sweep-{spec.name}-", dir=base))
    log = root / "experiment.log"
    result = ExperimentResult(spec.name, ok=False, log=f"{socket.gethostname()}:{log}")
    result.worker = _worker_address()
    clone = root / "repo"
    env = _environment(clone)
    try:
        with log.open("w", encoding="utf-8") as stream:
            _clone(spec, result, stream, clone, env)
            _run_and_push(spec, result, stream, clone, env)
        result.ok = True
    except _StepError as error:
        result.reason = str(error)
    except OSError as error:
        result.reason = f"{type(error).__name__}: {error}"
    if result.ok and not os.environ.get(KEEP_ENV):
        shutil.rmtree(clone, ignore_errors=True)
    return result.to_dict()


def _clone(
    spec: ExperimentSpec, result: ExperimentResult, stream: Any, clone: Path, env: Any
) -> None:
    """The sweep's commit, checked out from the git remote, with the worker's DVC config."""
    remote = spec.git_remote
    clone_command = ["git", "clone", "--quiet", "--no-checkout", remote, str(clone)]
    _step(result, "clone", stream, clone_command, cwd=clone.parent, env=env)
    checkout = ["git", "checkout", "--quiet", "--detach", spec.commit]
    _step(result, "clone", stream, checkout, cwd=clone, env=env)
    local_config = os.environ.get(DVC_CONFIG_ENV)
    if local_config:
        shutil.copyfile(local_config, clone / ".dvc" / "config.local")
        stream.write(f"using the worker's DVC config {local_config}\n")
    _check_code_comes_from(clone, env, stream)


def _run_and_push(
    spec: ExperimentSpec, result: ExperimentResult, stream: Any, clone: Path, env: Any
) -> None:
    settings = [argument for override in spec.overrides for argument in ("-S", override)]
    # --pull --allow-missing: DVC pulls only the outputs the changed stages read and skips the
    # unchanged stages (their outputs stay on the remote).
    run = ["dvc", "exp", "run", "--pull", "--allow-missing", "-n", spec.name, *settings]
    _step(result, "run", stream, run, cwd=clone, env=env, pull_until="Running stage")
    # --force: a re-run of the same name (a retried task, a resumed sweep) replaces it.
    push = ["dvc", "exp", "push", "--force", GIT_REMOTE_NAME, spec.name]
    _step(result, "push", stream, push, cwd=clone, env=env)


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):  # not inside a Dask worker
        return socket.gethostname()


def _environment(clone: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(clone / "src"), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DVC_NO_ANALYTICS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _check_code_comes_from(clone: Path, env: dict[str, str], stream: Any) -> None:
    found = subprocess.run(  # nosec B603
        [sys.executable, "-c", "import music_genre; print(music_genre.__file__)"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    stream.write(f"music_genre imported from {found}\n")
    if not found.startswith(str(clone / "src")):
        raise _StepError(
            f"the experiment would import music_genre from {found or 'nowhere'}, not from "
            f"its clone {clone}/src"
        )


def _step(
    result: ExperimentResult,
    name: str,
    stream: Any,
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    pull_until: str | None = None,
) -> None:
    """Run `command`, its output into the log; time it under `name` (and `pull` before the
    first line containing `pull_until`)."""
    stream.write(f"$ {' '.join(command)}\n")
    stream.flush()
    start = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(  # nosec B603
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout or ():
            stream.write(line)
            lines.append(line)
            if pull_until and pull_until in line and "pull" not in result.seconds:
                result.seconds["pull"] = time.perf_counter() - start
                start = time.perf_counter()
    stream.flush()
    result.seconds[name] = result.seconds.get(name, 0.0) + time.perf_counter() - start
    if process.returncode != 0:
        raise _StepError(f"{name}: `{' '.join(command[:3])}` failed: {_reason(lines)}")


def _reason(lines: list[str]) -> str:
    errors = [line.strip() for line in lines if line.startswith("ERROR")]
    chosen = (
        errors[-1]
        if errors
        else next((line.strip() for line in reversed(lines) if line.strip()), "no output")
    )
    return chosen if len(chosen) <= 300 else chosen[:297] + "..."
