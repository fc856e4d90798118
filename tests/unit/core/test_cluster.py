"""core.cluster: one line for an unreachable scheduler, too few workers, or a worker without
this package (or with other versions), before any work is sent."""

from importlib import metadata

import pytest

from music_genre.core.cluster import (
    SCHEDULER_ENV,
    ClusterError,
    connect,
    installed_versions,
    require_packages,
    worker_addresses,
)
from support.local_cluster import in_process_cluster


def test_an_unreachable_scheduler_is_one_line_naming_it_and_where_it_came_from(
    closed_port, monkeypatch
):
    address = f"tcp://127.0.0.1:{closed_port}"
    reaching = connect(address, 2, timeout_s=0.5, named_by="params.yaml dask.scheduler")
    with pytest.raises(ClusterError) as raised, reaching:
        pass
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        f"cannot reach the Dask scheduler at {address} (from params.yaml dask.scheduler) "
        "within 0.5 s: start it (`dask scheduler`) or fix the address"
    )
    monkeypatch.setenv(SCHEDULER_ENV, address)
    with (
        pytest.raises(ClusterError, match=rf"\(from \${SCHEDULER_ENV}\)"),
        connect(None, 2, timeout_s=0.5),
    ):
        pass


def test_too_few_workers_is_one_line_naming_the_param():
    with in_process_cluster(1) as client:
        assert len(worker_addresses(client, 1, 5)) == 1
        with pytest.raises(
            ClusterError,
            match=r"has 1 worker\(s\) after 0.5 s, 2 needed \(params.yaml dask.workers\)",
        ):
            worker_addresses(client, 2, 0.5)


def test_workers_with_this_package_pass_the_check():
    with in_process_cluster(2) as client:
        require_packages(client, worker_addresses(client, 2))


class _Client:
    """A stand-in for distributed.Client whose workers answer the probe as given."""

    def __init__(self, answers):
        self.answers = answers

    def run(self, function, modules, workers, on_error):
        assert function is installed_versions and on_error == "return"
        return {worker: self.answers[worker] for worker in workers}


def test_a_worker_without_the_package_is_one_line_naming_the_fix():
    answers = {
        "tcp://a:1": installed_versions({"music_genre": "music-genre", "lightgbm": "lightgbm"}),
        "tcp://b:1": ModuleNotFoundError("No module named 'music_genre'"),
    }
    with pytest.raises(ClusterError) as raised:
        require_packages(_Client(answers), ["tcp://a:1", "tcp://b:1"])
    assert str(raised.value) == (
        "Dask worker tcp://b:1: No module named 'music_genre': install music-genre "
        f"{metadata.version('music-genre')} with the pinned requirements (`pip install -r "
        "requirements.txt -e .` from this commit) in every worker's environment"
    )


def test_a_worker_with_another_lightgbm_is_one_line_naming_both_versions():
    answers = {"tcp://a:1": {"music_genre": metadata.version("music-genre"), "lightgbm": "0.1"}}
    with pytest.raises(
        ClusterError,
        match=rf"tcp://a:1: lightgbm 0.1, this process has {metadata.version('lightgbm')}",
    ):
        require_packages(_Client(answers), ["tcp://a:1"])
