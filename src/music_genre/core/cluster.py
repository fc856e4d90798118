"""The Dask cluster the sweep, the tuner and the train stage's Dask backend run on: a
scheduler's address, or a local one; and the checks that fail in one line before any work is
sent (an unreachable scheduler, too few workers, a worker without this package)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from typing import Any, Final

from music_genre.core.errors import PipelineError, first_line

SCHEDULER_ENV: Final = "DASK_SCHEDULER_ADDRESS"
# What a worker of the train stage imports, by module: its distribution name.
TRAINING_PACKAGES: Final = {"music_genre": "music-genre", "lightgbm": "lightgbm"}


class ClusterError(PipelineError):
    """The Dask cluster cannot be reached, lacks workers or a worker lacks a package."""


def _quiet() -> None:
    # Progress is one line per task; Dask's own INFO chatter would drown it.
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def connect(
    scheduler: str | None,
    workers: int,
    *,
    timeout_s: float = 30.0,
    named_by: str = "--scheduler",
) -> Iterator[Any]:
    """A client of `scheduler` (or $DASK_SCHEDULER_ADDRESS), else of a local cluster of
    `workers` single-threaded processes, closed on exit.

    A scheduler that does not answer within `timeout_s` is one line naming the address and
    where it came from (`named_by`, or the environment variable).
    """
    from dask.distributed import Client, LocalCluster

    _quiet()
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        source = named_by if scheduler else f"${SCHEDULER_ENV}"
        try:
            client = Client(address, timeout=f"{timeout_s}s")
        except (OSError, ValueError) as error:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} (from {source}) within "
                f"{timeout_s:g} s: start it (`dask scheduler`) or fix the address "
                f"({first_line(error)})"
            ) from None
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def connected_workers(client: Any) -> dict[str, Any]:
    """The scheduler's workers now (address -> their info: status, memory limit, ...).

    Asked of the scheduler each time: the client's own `scheduler_info()` cache is refreshed
    in the background without the workers, so reading it can find none."""
    return dict(client.sync(client.scheduler.identity, n_workers=-1)["workers"])


def worker_addresses(client: Any, count: int, timeout_s: float = 30.0) -> list[str]:
    """The first `count` workers of the cluster, by address, once that many have connected."""
    try:
        client.wait_for_workers(count, timeout=timeout_s)
    except TimeoutError:
        found = len(connected_workers(client))
        raise ClusterError(
            f"the Dask scheduler at {client.scheduler.address} has {found} worker(s) after "
            f"{timeout_s:g} s, {count} needed (params.yaml dask.workers): start more "
            "(`dask worker <scheduler address>`) or lower dask.workers"
        ) from None
    return sorted(connected_workers(client))[:count]


def installed_versions(modules: Mapping[str, str]) -> dict[str, str]:
    """Import each module and return its distribution's version (what a worker reports)."""
    import importlib

    found = {}
    for module, distribution in modules.items():
        importlib.import_module(module)
        found[module] = metadata.version(distribution)
    return found


def require_packages(
    client: Any, workers: list[str], modules: Mapping[str, str] = TRAINING_PACKAGES
) -> None:
    """Every worker imports `modules` at this process's versions, or one line naming the
    worker, what is wrong and the fix.

    A worker without this package cannot even load the probe (it lives here), so its answer
    is the import error itself.
    """
    expected = installed_versions(modules)
    answers = client.run(installed_versions, dict(modules), workers=workers, on_error="return")
    for worker in workers:
        answer = answers.get(worker)
        if isinstance(answer, BaseException):
            # A probe the worker could not even load comes back wrapped: keep its reason.
            text = first_line(answer, type(answer).__name__)
            found = re.search(r"No module named '[^']+'", text)
            raise ClusterError(
                f"Dask worker {worker}: {found.group(0) if found else text}: install "
                f"music-genre {expected['music_genre']} with the pinned requirements "
                "(`pip install -r requirements.txt -e .` from this commit) in every worker's "
                "environment"
            )
        for module, version in expected.items():
            if answer[module] != version:
                raise ClusterError(
                    f"Dask worker {worker}: {modules[module]} {answer[module]}, this process "
                    f"has {version}: install the same pinned requirements on every worker "
                    "(the model's bytes depend on them)"
                )
