"""The REST API as a real uvicorn server on 127.0.0.1, under a bounded load."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import as_request_songs, free_port
from music_genre.serving.predict import Predictor

pytestmark = pytest.mark.integration

REQUESTS = 2000
CONCURRENCY = 16


@pytest.fixture
def server(small_model):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "music_genre.cli",
            "serve",
            "--model",
            str(small_model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {process.communicate()[1]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("server did not answer /health within 60 s")
    yield base
    process.terminate()
    process.wait(timeout=30)


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
