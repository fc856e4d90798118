"""A real Dask cluster on 127.0.0.1: a scheduler and worker processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from support.project import tool_env
from support.servers import free_port


@contextmanager
def dask_cluster(
    root: Path,
    workers: int,
    *,
    worker_args: Sequence[str] = (),
    per_worker_args: Mapping[int, Sequence[str]] | None = None,
    **worker_env: dict[str, str],
) -> Iterator[dict]:
    """A `dask scheduler` and `workers` `dask worker` processes (no nanny: a killed worker
    stays dead), each worker with its own directory; `worker_args` are added to every
    worker's command line, `per_worker_args[index]` to one's."""
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
                    *worker_args,
                    *(per_worker_args or {}).get(index, ()),
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
