"""The train split as chunks read by Dask workers, and its fit/validation split made from two
small columns per row.

A chunk is a slice of one parquet row group (at most dask.chunk_rows rows); each task reads
only its slice and the columns it needs, so no process ever holds the table. The validation
split is the local one (data.splits.split_by) made on the client from each row's entity id and
label alone, so the Dask backend fits on exactly the rows the local backend fits on, and its
card reports the same split.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from music_genre.core.cluster import ClusterError, connected_workers
from music_genre.core.errors import DataFileError, first_line

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from music_genre.core.params import Params
    from music_genre.data.contract import Contract

# Working columns of the client's table of rows (never written out).
ROW: Final = "__row__"
UNIT: Final = "__unit__"
_BATCH_ROWS: Final = 8_192
_BUFFER_BYTES: Final = 1 << 20
_POLL_S: Final = 0.5
# Seconds a needed worker may stay paused at its memory limit before the stage gives up.
PAUSED_LIMIT_S: Final = 120.0


@dataclass(frozen=True)
class Chunk:
    """Rows [start, stop) of row group `row_group` of the parquet file at `path`."""

    path: str
    row_group: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class PartitionedSplit:
    """The train split's fit and validation parts, partitioned: the chunks, and per chunk a
    future of its validation mask (True: a validation row) on the cluster."""

    chunks: list[Chunk]
    masks: list[Any]
    fit_rows: int
    validation_rows: int
    # data.splits.split_report of the split, as the local backend's card has it.
    report: dict[str, Any]


def plan_chunks(path: str, chunk_rows: int, columns: Sequence[str]) -> list[Chunk]:
    """The chunks of the parquet file at `path`; one line naming the file if it cannot be
    read or lacks one of `columns`. Chunks name the file by its absolute path: a worker's
    working directory is its own (dvc gives stages relative paths)."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"{path}: not a readable parquet table ({first_line(error)})") from None
    missing = [name for name in columns if name not in parquet.schema_arrow.names]
    if missing:
        raise DataFileError(f"{path}: missing required column(s) {', '.join(missing)}")
    metadata = parquet.metadata
    absolute = str(Path(path).resolve())
    return [
        Chunk(absolute, group, start, min(start + chunk_rows, rows))
        for group in range(metadata.num_row_groups)
        for rows in [metadata.row_group(group).num_rows]
        for start in range(0, rows, chunk_rows)
    ]


def read_chunk(chunk: Chunk, columns: Sequence[str]) -> pd.DataFrame:
    """The chunk's rows in `columns`, as pandas reads the file (on a worker): the row group
    is streamed in batches and only the chunk's slice is kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Arrow's own allocator keeps freed memory for reuse: the process would look fuller to
    # Dask's memory limit than it is. The system allocator gives it back.
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        # Buffered: column chunks are read in pieces, not whole row groups at once.
        parquet = pq.ParquetFile(chunk.path, buffer_size=_BUFFER_BYTES)
        kept, seen = [], 0
        for batch in parquet.iter_batches(
            batch_size=min(chunk.rows, _BATCH_ROWS),
            row_groups=[chunk.row_group],
            columns=list(columns),
        ):
            first, end = max(chunk.start, seen), min(chunk.stop, seen + batch.num_rows)
            if end > first:
                kept.append(batch.slice(first - seen, end - first))
            seen += batch.num_rows
            if seen >= chunk.stop:
                break
        schema = pa.schema([parquet.schema_arrow.field(name) for name in columns])
        return pa.Table.from_batches(kept, schema=schema).to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(
            f"{chunk.path}: not readable on a Dask worker ({first_line(error)}); every worker "
            "needs the split at this path (a shared file system)"
        ) from None


def unit_contract(contract: Contract) -> Contract:
    """The contract with its groups identified by the UNIT column (each row's entity id)."""
    if contract.groups is None:
        return contract
    groups = contract.groups.model_copy(update={"id_column": UNIT})
    return contract.model_copy(update={"groups": groups})


def unit_columns(contract: Contract, available: Sequence[str]) -> list[str]:
    """What a row's entity id and label are read from: the contract's group columns (or its
    id column, when the file has it, as the local split uses it) and the target."""
    groups = contract.groups
    if groups is None:
        return [contract.target]
    if groups.id_column is not None and groups.id_column in available:
        return [groups.id_column, contract.target]
    return [*groups.columns, contract.target]


def chunk_units(chunk: Chunk, contract: Contract, columns: Sequence[str]) -> pd.DataFrame:
    """Per row of the chunk: its label and (with groups) its entity id, as a string."""
    from music_genre.data.tracks import track_ids

    frame = read_chunk(chunk, columns)
    units = frame[[contract.target]].copy()
    if contract.groups is not None:
        units[UNIT] = track_ids(frame, contract).astype("str").to_numpy()
    return units


def split_partitioned(
    client: Any,
    path: str,
    contract: Contract,
    settings: tuple[str, float, int],
    *,
    chunk_rows: int,
    workers: list[str],
) -> PartitionedSplit:
    """The fit/validation split of the train split at `path`, as the local backend makes it.

    `settings` is (segregate.group_by, train.val_size, seed). Each chunk's labels and entity
    ids come to this process (two columns per row); data.splits.split_by splits them, and
    each chunk's validation mask goes back to the cluster.
    """
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from music_genre.data.splits import check_group_by, split_by, split_report

    group_by, val_size, seed = settings
    check_group_by(group_by, contract)
    needed = [*contract.model_input_columns, *unit_columns(contract, []), contract.target]
    chunks = plan_chunks(path, chunk_rows, list(dict.fromkeys(needed)))
    columns = unit_columns(contract, pq.ParquetFile(path).schema_arrow.names)
    futures = [client.submit(chunk_units, chunk, contract, columns) for chunk in chunks]
    rows = pd.concat(gather(client, futures, workers, "the split"), ignore_index=True)
    rows[ROW] = np.arange(len(rows))
    keyed = unit_contract(contract)
    rest, held = split_by(rows, keyed, group_by, val_size, seed, what="validation")
    mask = np.zeros(len(rows), dtype=bool)
    mask[held[ROW].to_numpy()] = True
    bounds = np.cumsum([0, *(chunk.rows for chunk in chunks)])
    # Keys of their own (hash=False): equal masks of another fit on this client must not share
    # them, or releasing one fit's would drop the other's.
    masks = client.scatter([mask[a:b] for a, b in itertools.pairwise(bounds)], hash=False)
    report = split_report(rest, held, keyed, group_by, "validation")
    return PartitionedSplit(chunks, masks, len(rest), len(held), report)


class Watch:
    """What the stage checks while it waits on the cluster: the workers it needs are all
    connected, and none has stayed paused at its memory limit (Dask pauses a worker above 80%
    of it; one that stays paused would make the wait endless)."""

    def __init__(self, client: Any, workers: Sequence[str], during: str) -> None:
        self.client, self.workers, self.during = client, list(workers), during
        self.paused_since: dict[str, float] = {}

    def check(self) -> None:
        import time

        found = connected_workers(self.client)
        missing = [worker for worker in self.workers if worker not in found]
        if missing:
            raise left_error(missing, self.during)
        now = time.monotonic()
        for worker in self.workers:
            if found[worker].get("status") == "paused":
                self.paused_since.setdefault(worker, now)
            else:
                self.paused_since.pop(worker, None)
        for worker, since in self.paused_since.items():
            if now - since > PAUSED_LIMIT_S:
                raise ClusterError(
                    f"Dask worker {worker} has been paused at its memory limit for "
                    f"{PAUSED_LIMIT_S:g} s during {self.during}: nothing was written; give "
                    "each worker more memory (dask worker --memory-limit) or lower "
                    "dask.chunk_rows"
                )

    def missing(self) -> list[str]:
        """The workers no longer connected to the scheduler."""
        found = connected_workers(self.client)
        return [worker for worker in self.workers if worker not in found]


def left_error(missing: Sequence[str], during: str) -> ClusterError:
    """One line for a worker that left while the stage needed it."""
    return ClusterError(
        f"Dask worker {missing[0]} left the cluster during {during} (killed, or out of "
        "memory?): nothing was written; run the stage again"
    )


def gather(
    client: Any, futures: Sequence[Any], workers: Sequence[str], during: str = "the fit"
) -> list[Any]:
    """The futures' results; a task's own error (one line from the worker) is raised as it
    is, and a needed worker leaving or staying paused (Watch) is one line.

    Tasks that are not pinned to a worker are run again elsewhere by Dask; a task pinned to
    a worker that left could never finish, so waiting stops there.
    """
    from dask.distributed import wait

    watch = Watch(client, workers, during)
    while True:
        try:
            wait(list(futures), timeout=_POLL_S)
            break
        except TimeoutError:
            if any(future.status == "error" for future in futures):
                break
            watch.check()
    return list(client.gather(list(futures)))


@dataclass(frozen=True)
class Cluster:
    """A client, and the workers (in rank order) the fit uses."""

    client: Any
    workers: list[str]

    def gather(self, futures: Sequence[Any], during: str = "the fit") -> list[Any]:
        return gather(self.client, futures, self.workers, during)

    def each(self, function: Any, split: PartitionedSplit, *args: Any, **kwargs: Any) -> list[Any]:
        """`function(chunk, mask, *args, **kwargs)` for every chunk, gathered in chunk order."""
        futures = [
            self.client.submit(function, chunk, mask, *args, **kwargs, pure=False)
            for chunk, mask in zip(split.chunks, split.masks, strict=True)
        ]
        return self.gather(futures)


def sample_positions(rows: int, size: int, seed: int) -> np.ndarray:
    """`size` of `rows` positions, drawn with `seed`, in order (all when size >= rows)."""
    import numpy as np

    if size >= rows:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


def _per_chunk(positions: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Global positions as positions within each chunk's rows."""
    import numpy as np

    bounds = np.cumsum([0, *counts])
    return [
        positions[(positions >= a) & (positions < b)] - a for a, b in itertools.pairwise(bounds)
    ]


def take_sample(
    chunk: Any, mask: Any, columns: Sequence[str], fit_at: Any, validation_at: Any
) -> tuple[Any, Any]:
    """The chunk's sampled fit and validation rows, as Arrow tables (a task)."""
    import pyarrow as pa

    frame = read_chunk(chunk, columns)
    fit, validation = frame[~mask].iloc[fit_at], frame[mask].iloc[validation_at]
    return (
        pa.Table.from_pandas(fit, preserve_index=False),
        pa.Table.from_pandas(validation, preserve_index=False),
    )


def draw_sample(
    cluster: Cluster,
    split: PartitionedSplit,
    contract: Contract,
    params: Params,
    fit_counts: list[int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pyarrow as pa

    settings = params.dask
    size = settings.sample_rows
    validation_size = -(-size * split.validation_rows // split.fit_rows)
    fit_at = sample_positions(split.fit_rows, size, settings.sample_seed)
    validation_at = sample_positions(
        split.validation_rows, validation_size, settings.sample_seed + 1
    )
    validation_counts = [
        chunk.rows - rows for chunk, rows in zip(split.chunks, fit_counts, strict=True)
    ]
    from music_genre.modeling.build import read_inputs

    columns = [*read_inputs(params.train, params.tfidf, contract), contract.target]
    futures = [
        cluster.client.submit(take_sample, chunk, mask, columns, fit, validation, pure=False)
        for chunk, mask, fit, validation in zip(
            split.chunks,
            split.masks,
            _per_chunk(fit_at, fit_counts),
            _per_chunk(validation_at, validation_counts),
            strict=True,
        )
    ]
    parts = cluster.gather(futures, "the sample")
    # Made into frames here, as a parquet file is read: new arrays of this process, so the
    # fitted preprocessor pickles alike whether the rows came from one worker or several.
    return (
        pa.concat_tables([part[0] for part in parts]).to_pandas(),
        pa.concat_tables([part[1] for part in parts]).to_pandas(),
    )
