"""The REST API as a real uvicorn server on 127.0.0.1, under a bounded load."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import as_request_songs, serving, serving_process
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
