"""modeling.chunks: the train split read in chunks, split on the client exactly as the local
backend splits it, and the waits that stop when a worker leaves."""

import numpy as np
import pandas as pd
import pytest

from music_genre.core.cluster import ClusterError
from music_genre.core.errors import DataFileError
from music_genre.core.params import load_params
from music_genre.data.splits import split_report
from music_genre.modeling.chunks import (
    Chunk,
    gather,
    plan_chunks,
    read_chunk,
    sample_positions,
    split_partitioned,
)
from music_genre.pipeline.train import fit_and_validation
from support.data import songs_contract
from support.local_cluster import in_process_cluster, split_file
from support.project import PROJECT_ROOT


@pytest.fixture(scope="module")
def client():
    with in_process_cluster() as client:
        yield client


def test_chunks_cover_every_row_group_in_slices_read_as_pandas_reads_the_file(tmp_path):
    path = split_file(tmp_path, rows=2000, row_group=700)
    table = pd.read_parquet(path)
    chunks = plan_chunks(str(path), 300, ["genre"])
    assert [(c.row_group, c.start, c.stop) for c in chunks[:4]] == [
        (0, 0, 300),
        (0, 300, 600),
        (0, 600, 700),
        (1, 0, 300),
    ]
    assert sum(chunk.rows for chunk in chunks) == len(table)
    columns = ["title", "loudness", "key", "genre"]
    whole = pd.concat([read_chunk(chunk, columns) for chunk in chunks], ignore_index=True)
    pd.testing.assert_frame_equal(whole, table[columns])
    assert list(whole.dtypes) == list(table[columns].dtypes)


def test_a_missing_column_or_file_is_one_line_naming_the_file(tmp_path):
    path = split_file(tmp_path, rows=300)
    with pytest.raises(DataFileError, match=r"train.parquet: missing required column\(s\) nope$"):
        plan_chunks(str(path), 100, ["genre", "nope"])
    with pytest.raises(DataFileError, match=r"absent\.parquet: not a readable parquet table"):
        plan_chunks(str(tmp_path / "absent.parquet"), 100, ["genre"])
    with pytest.raises(DataFileError, match="every worker needs the split at this path"):
        read_chunk(Chunk(str(tmp_path / "absent.parquet"), 0, 0, 10), ["genre"])


@pytest.mark.parametrize("group_by", ["track", "none"])
def test_the_partitioned_split_is_the_local_split(client, tmp_path, group_by):
    contract = songs_contract()
    params = load_params(PROJECT_ROOT / "params.yaml")
    path = split_file(tmp_path, rows=2500, row_group=600)
    settings = (group_by, params.train.val_size, params.seed)
    workers = sorted(client.scheduler_info()["workers"])
    split = split_partitioned(
        client, str(path), contract, settings, chunk_rows=250, workers=workers
    )
    local = fit_and_validation(
        params.model_copy(
            update={"segregate": params.segregate.model_copy(update={"group_by": group_by})}
        ),
        contract,
        str(path),
    )
    mask = np.concatenate(client.gather(split.masks))
    table = pd.read_parquet(path)
    # The same rows; split one by one, the local split shuffles them, chunks keep the table's order.
    ordered = (lambda frame: frame) if group_by == "track" else _sorted
    for ours, theirs in ((table[~mask], local[0]), (table[mask], local[1])):
        pd.testing.assert_frame_equal(
            ordered(ours.reset_index(drop=True)), ordered(theirs[table.columns])
        )
    assert (split.fit_rows, split.validation_rows) == (len(local[0]), len(local[1]))
    assert split.report == split_report(*local, contract, group_by, "validation")


def _sorted(frame):
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def test_samples_are_seeded_in_order_and_whole_when_small():
    np.testing.assert_array_equal(sample_positions(5, 10, 0), np.arange(5))
    drawn = sample_positions(1000, 10, 3)
    assert len(set(drawn)) == 10 and list(drawn) == sorted(drawn)
    np.testing.assert_array_equal(drawn, sample_positions(1000, 10, 3))
    assert not np.array_equal(drawn, sample_positions(1000, 10, 4))


def _fails():
    raise DataFileError("train.parquet: no such column on this worker")


def test_a_task_error_comes_back_as_its_one_line(client):
    workers = sorted(client.scheduler_info()["workers"])
    with pytest.raises(DataFileError, match="no such column on this worker"):
        gather(client, [client.submit(_fails, pure=False)], workers)


def test_waiting_stops_with_one_line_when_a_needed_worker_is_gone(client):
    import time

    future = client.submit(time.sleep, 2, pure=False)
    started = time.perf_counter()
    with pytest.raises(ClusterError, match=r"worker tcp://gone:1 left the cluster during the fit"):
        gather(client, [future], ["tcp://gone:1"])
    assert time.perf_counter() - started < 1.5


def test_a_worker_paused_at_its_memory_limit_too_long_stops_with_one_line(monkeypatch):
    from music_genre.modeling import chunks

    worker = "tcp://10.0.0.7:40001"
    status = {"status": "paused"}
    monkeypatch.setattr(chunks, "connected_workers", lambda client: {worker: status})
    clock = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    watch = chunks.Watch(None, [worker], "the LightGBM fit")
    watch.check()  # paused from here
    clock[0] += chunks.PAUSED_LIMIT_S - 1
    watch.check()  # not for long enough yet
    status["status"] = "running"
    watch.check()  # it resumed: a later pause counts from its own start
    status["status"] = "paused"
    clock[0] += 1
    watch.check()
    clock[0] += chunks.PAUSED_LIMIT_S - 1
    watch.check()
    clock[0] += 2
    with pytest.raises(ClusterError) as raised:
        watch.check()
    assert str(raised.value) == (
        f"Dask worker {worker} has been paused at its memory limit for 120 s during the "
        "LightGBM fit: nothing was written; give each worker more memory (dask worker "
        "--memory-limit) or lower dask.chunk_rows"
    )
