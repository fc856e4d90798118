"""The REST API as a real uvicorn server on 127.0.0.1, under a bounded load."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import as_request_songs, serving, serving_process
from music_genre.serving.monitoring import PUBLISH_SECONDS
from music_genre.serving.predict import Predictor

pytestmark = pytest.mark.system

REQUESTS = 2000
CONCURRENCY = 16


@pytest.fixture
def server(small_model):
    with serving(small_model, "--workers", "2") as base:
        yield base


def test_two_workers_are_two_processes_on_one_port(small_model):
    with serving_process(small_model, "--workers", "2") as (base, process):
        children = _children(process.pid)
        # uvicorn's supervisor spawns one process per worker; they share the listening port.
        workers = [pid for pid in children if "spawn_main" in _cmdline(pid)]
        assert len(workers) == 2
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/ping").status_code == 200


def _children(parent: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(stat.parent.name)
    return found


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_bounded_load_has_no_errors_and_matches_the_model(server, small_model, songs):
    predictor = Predictor.load(small_model)
    expected = predictor.predict_proba(songs)
    bodies = as_request_songs(songs)

    with httpx.Client(base_url=server, timeout=30) as client:

        def call(index: int) -> tuple[int, int, dict]:
            row = index % len(bodies)
            response = client.post("/predict", json={"songs": [bodies[row]]})
            return row, response.status_code, response.json()

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            results = list(pool.map(call, range(REQUESTS)))
        # A bad request in the middle of the load does not disturb the server.
        assert client.post("/predict", json={"songs": [{"tempo": 1}]}).status_code == 422
        assert client.get("/health").status_code == 200

    assert [status for _, status, _ in results if status != 200] == []
    for row, _, body in results:
        prediction = body["predictions"][0]
        assert prediction["genre"] == predictor.classes[int(expected[row].argmax())]
        assert [prediction["probabilities"][g] for g in predictor.classes] == pytest.approx(
            expected[row], abs=1e-12
        )


def _scrape(client: httpx.Client) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_of_two_workers_add_up_exactly(small_model, songs, tmp_path):
    """prometheus_client's multiprocess mode: whichever worker answers, the counts are the
    server's; its directory is fresh per start and removed at exit; a killed worker's drift
    window leaves the sum while its counts stay."""
    import os
    import signal
    import time

    bodies = as_request_songs(songs.head(60))
    requests = 120
    with serving_process(
        small_model, "--workers", "2", "--drift-window", "40", env={"TMPDIR": str(tmp_path)}
    ) as (base, _):
        (metrics_dir,) = tmp_path.glob("music-genre-metrics-*")

        def call(index: int) -> int:
            # A new connection per request: the kernel spreads them over both workers.
            with httpx.Client(base_url=base, timeout=30) as client:
                return client.post("/predict", json={"songs": [bodies[index % 60]]}).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(call, range(requests))) == {200}
        pids = {path.stem.rpartition("_")[2] for path in metrics_dir.glob("counter_*.db")}
        assert len(pids) == 2, "both workers should have answered"
        time.sleep(2 * PUBLISH_SECONDS)  # every worker has published its drift window
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(6):  # scrapes land on either worker
                metrics = _scrape(client)
                key = ("music_genre_requests_total", (("route", "/predict"), ("status", "200")))
                assert metrics[key] == requests
                songs_key = ("music_genre_songs_predicted_total", (("route", "/predict"),))
                assert metrics[songs_key] == requests
                genres = sum(
                    v for (n, _), v in metrics.items() if n == "music_genre_predictions_total"
                )
                assert genres == requests
                # Each worker keeps its last 40 songs: both answered, so more than one window.
                in_windows = metrics[("music_genre_drift_songs", (("column", "tempo"),))]
                assert 40 < in_windows <= 80
            drift = client.get("/drift").json()
            assert drift["window"] == {"songs_per_worker": 40, "workers": 2, "songs_at_most": 80}
            assert drift["features"]["tempo"]["songs"] == in_windows
            victim = int(sorted(pids)[0])
            os.kill(victim, signal.SIGKILL)
            time.sleep(1)
            metrics = _scrape(client)
            assert metrics[key] == requests  # the killed worker's counts are kept
            # Its window left the sum: what remains is the survivor's, at most one window.
            assert metrics[("music_genre_drift_songs", (("column", "tempo"),))] <= 40
    assert not metrics_dir.exists()
