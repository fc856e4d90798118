"""What the benchmark scripts share: a free port, waiting for a server to answer, and a Dask
scheduler with worker processes started as a user starts them from the shell.

The scripts run as `python benchmarks/<name>.py`, so this folder is on their import path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, tries: int = 300, pause: float = 0.2) -> bool:
    """Poll `url` until it answers 200 (True), or `tries` connection attempts fail (False)."""
    import httpx

    for _ in range(tries):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(pause)
    return False


def dask_processes(
    root: Path,
    workers: int,
    worker_args: Sequence[str] = (),
    worker_env: Mapping[str, str] | None = None,
    stdout: int | None = None,
) -> tuple[str, list[subprocess.Popen]]:
    """`dask scheduler` on a free port of 127.0.0.1 and `workers` single-threaded
    `dask worker` processes (each with `worker_args` and its own directory under `root`).
    Returns the scheduler's address and the processes, the scheduler first; stderr is
    discarded (stdout too with `stdout=subprocess.DEVNULL`)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": stdout, "stderr": subprocess.DEVNULL}
    scheduler = [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    processes = [subprocess.Popen([*scheduler, "--no-dashboard"], **quiet)]
    for index in range(workers):
        command = [BIN / "dask", "worker", address, "--nthreads", "1", "--no-dashboard"]
        command += ["--host", "127.0.0.1", "--local-directory", str(root / f"worker{index}")]
        processes.append(
            subprocess.Popen(
                [*command, *worker_args], env={**os.environ, **(worker_env or {})}, **quiet
            )
        )
    return address, processes


def stop(processes: Sequence[subprocess.Popen]) -> None:
    """Terminate the processes, then wait for each (kill one that does not exit in 30 s)."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The commit the results are measured on (the docs judge their freshness by it)."""
    result = subprocess.run(  # nosec B603 B607: git, fixed arguments
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def write_results(path: str, measured: dict, load_before: float) -> None:
    """`measured` after the commit and the machine (Python, CPUs, the 1-minute load before the
    measurements and now), as JSON at `path`."""
    import json
    import platform

    machine = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_1min_before": load_before,
        "load_1min_after": os.getloadavg()[0],
    }
    results = {"commit": git_commit(), "machine": machine, **measured}
    Path(path).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")


def committed_train_parts(split: Path) -> tuple:
    """params.yaml (with one thread), contract.yaml and the train split's fit and validation
    parts exactly as the train stage splits them."""
    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.pipeline.train import fit_and_validation

    params = load_params(ROOT / "params.yaml")
    params = params.model_copy(update={"train": params.train.model_copy(update={"n_threads": 1})})
    contract = load_contract(ROOT / "contract.yaml")
    fit, validation = fit_and_validation(params, contract, str(split / "train.parquet"))
    return params, contract, fit, validation
