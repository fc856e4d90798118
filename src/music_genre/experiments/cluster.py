"""The Dask cluster the sweep and the tuner run on: a scheduler's address, or a local one."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

SCHEDULER_ENV: Final = "DASK_SCHEDULER_ADDRESS"


@contextmanager
def connect(scheduler: str | None, workers: int) -> Iterator[Any]:
    """A client of `scheduler` (or $DASK_SCHEDULER_ADDRESS), else of a local cluster of
    `workers` single-threaded processes, closed on exit."""
    from dask.distributed import Client, LocalCluster

    # Progress is one line per task; Dask's own INFO chatter would drown it.
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(logging.WARNING)
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        with Client(address, timeout="30s") as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
