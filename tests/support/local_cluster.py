"""An in-process Dask cluster for the default tier: two single-threaded workers as threads
(no processes to start), and the train split of a small synthetic table in row groups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support.data import prepared_songs


@contextmanager
def in_process_cluster(workers: int = 2) -> Iterator[Any]:
    """A client of a LocalCluster of `workers` thread workers, closed on exit."""
    import logging

    from dask.distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def split_file(directory: Path, rows: int = 3000, seed: int = 11, row_group: int = 700) -> Path:
    """A prepared synthetic table written as a train split in row groups of `row_group`."""
    path = directory / "train.parquet"
    prepared_songs(rows, seed).to_parquet(path, index=False, row_group_size=row_group)
    return path
