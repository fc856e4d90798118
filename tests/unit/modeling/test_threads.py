"""modeling.threads: params.yaml's train.n_threads, 0 meaning every core."""

import os

from threadpoolctl import threadpool_info

from music_genre.modeling.threads import QUEUED_WORKSPACE_MARKER, limited_threads, resolve_threads


def test_a_positive_count_is_taken_as_it_is():
    assert resolve_threads(3) == 3


def test_zero_means_every_core_this_process_may_use():
    assert resolve_threads(0) == len(os.sched_getaffinity(0))


def test_zero_means_one_thread_inside_a_queued_experiment(tmp_path, monkeypatch):
    """Queued experiments run side by side (`dvc exp run --run-all -j N`): one core each."""
    workspace = tmp_path / QUEUED_WORKSPACE_MARKER / "abc123"
    workspace.mkdir(parents=True)
    monkeypatch.chdir(workspace)
    assert resolve_threads(0) == 1
    assert resolve_threads(2) == 2


def test_limited_threads_caps_the_thread_pools_and_restores_them():
    before = [pool["num_threads"] for pool in threadpool_info()]
    assert before, "numpy (imported by the tests) brings at least one BLAS pool"
    with limited_threads(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert [pool["num_threads"] for pool in threadpool_info()] == before
