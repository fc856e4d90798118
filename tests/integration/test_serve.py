"""The REST API as a real uvicorn server on 127.0.0.1, under a bounded load."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from music_genre.serving.monitoring import PUBLISH_SECONDS
from music_genre.serving.predict import Predictor
from support.servers import as_request_songs, serving, serving_process

pytestmark = pytest.mark.server

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


# --- No request ties up a worker: abandoned work stops, SIGTERM drains for a bounded time. ---

GRACE = 2


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (a server and its workers)."""
    total = 0
    for process in [str(pid), *_children(pid)]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    import os

    return total / os.sysconf("SC_CLK_TCK")


def _until(condition, what: str, seconds: float = 120) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {seconds} s")
        time.sleep(0.05)


def _busy(pid: int, cpu_seconds: float) -> None:
    """Wait until the server has spent `cpu_seconds` more CPU: it is working on the request."""
    start = _cpu_seconds(pid)
    _until(lambda: _cpu_seconds(pid) - start >= cpu_seconds, f"busy for {cpu_seconds} s of CPU")


def _send(port: int, path: str, body: bytes, *, upto: int | None = None):
    """A raw HTTP/1.1 POST of `body`, or only of its first `upto` bytes (the rest still owed)."""
    import socket

    connection = socket.create_connection(("127.0.0.1", port), timeout=120)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    connection.sendall(head + body[:upto])
    return connection


def _answer(connection) -> tuple[int, dict]:
    import http.client
    import json

    response = http.client.HTTPResponse(connection)
    response.begin()
    return response.status, json.loads(response.read())


def _songs_body(rows: int) -> bytes:
    import json

    from support.data import synthetic_songs

    return json.dumps({"songs": as_request_songs(synthetic_songs(rows, seed=3))}).encode()


def test_work_for_a_client_that_has_gone_stops(small_model):
    """A long /explain (the cap raised to 4,000 songs, seconds of work) is dropped at the next
    chunk once its client closes the connection: counted as 499, no song explained, and the
    worker is free for the next request."""
    body = _songs_body(4000)
    with serving_process(small_model, "--workers", "1", "--max-explain-songs", "4000") as (
        base,
        process,
    ):
        connection = _send(_port(base), "/explain", body)
        _busy(process.pid, 0.5)
        connection.close()
        with httpx.Client(base_url=base, timeout=30) as client:
            gone = ("music_genre_requests_total", (("route", "/explain"), ("status", "499")))
            _until(lambda: _scrape(client).get(gone) == 1, "counted as 499")
            metrics = _scrape(client)
            assert ("music_genre_songs_predicted_total", (("route", "/explain"),)) not in metrics
            answer = client.post(
                "/explain", content=_songs_body(1), headers={"content-type": "application/json"}
            )
            assert answer.status_code == 200


def test_sigterm_lets_a_request_in_flight_finish_then_exits(small_model):
    """After SIGTERM the server stops accepting connections, answers the request it has, and
    exits without waiting for the rest of its (long) grace period."""
    import signal
    import socket

    body = _songs_body(20)
    with serving_process(small_model, "--workers", "1", "--grace-period", "60") as (base, process):
        connection = _send(_port(base), "/predict", body, upto=len(body) // 2)
        process.send_signal(signal.SIGTERM)

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", _port(base)), timeout=5).close()
            except OSError:
                return True
            return False

        _until(refused, "refusing new connections")
        connection.sendall(body[len(body) // 2 :])
        status, answer = _answer(connection)
        assert status == 200 and len(answer["predictions"]) == 20
        process.wait(timeout=60)  # the grace period is a bound, not a wait


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_exits_within_the_grace_period_with_work_in_flight(workers):
    """Two requests that would take much longer are in flight at SIGTERM: an /explain of 4,000
    songs on the workspace model (~30 s of TreeSHAP on one core) and an upload that stalls
    half-way. Both are answered 503 at the end of the grace period and the server exits
    within it (plus a margin), with one worker or with two."""
    import signal
    import subprocess

    from support.data import missing_real_data
    from support.project import PROJECT_ROOT

    model = PROJECT_ROOT / "models" / "model.joblib"
    if not model.is_file():
        missing_real_data("models/model.joblib is missing: run `dvc repro`")
    long_explain = _songs_body(4000)
    stalled = _songs_body(20)
    options = ["--workers", workers, "--grace-period", str(GRACE), "--max-explain-songs", "4000"]
    with serving_process(model, *options) as (base, process):
        computing = _send(_port(base), "/explain", long_explain)
        waiting = _send(_port(base), "/predict", stalled, upto=len(stalled) // 2)
        _busy(process.pid, 1.0)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=GRACE + 10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {GRACE + 10} s after SIGTERM (grace period {GRACE} s)")
        for connection in (computing, waiting):
            status, answer = _answer(connection)
            assert status == 503, answer
            assert answer["error_code"] == "TEMPORARILY_UNAVAILABLE"
