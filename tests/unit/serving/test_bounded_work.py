"""No request ties up a worker: a batch runs in chunks, work for a client that has gone stops
before its next chunk, and a request that a stopping server cancels is answered 503 at the end of
its chunk. Driven at the ASGI level, so the client's going and the cancellation happen at a
known point of the work."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from music_genre.serving.app import create_app
from music_genre.serving.explain import Explainer
from music_genre.serving.limits import EXPLAIN_CHUNK_SONGS, PREDICT_CHUNK_SONGS
from music_genre.serving.predict import Predictor
from music_genre.serving.routes import CLIENT_GONE
from support.servers import as_request_songs

CHUNKS = 3


@pytest.fixture(scope="module")
def predictor(small_model) -> Predictor:
    return Predictor.load(small_model)


def _request(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def _client(body: bytes, present_for: int):
    """An ASGI receive: the body, then a client still there when asked `present_for` times
    (nothing to receive yet), then gone."""
    asked = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal asked, sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        asked += 1
        if asked <= present_for:
            await asyncio.Event().wait()  # no message: Starlette's check gives up at once
        return {"type": "http.disconnect"}

    return receive


async def _serve(app: Any, path: str, body: bytes, receive: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_request(path, body), receive, send)
    return sent


def _counting(monkeypatch, cls: type, name: str) -> list[int]:
    """Record the size of each chunk that `cls.name` is called with."""
    chunks: list[int] = []
    original = getattr(cls, name)

    def counted(self, songs):
        chunks.append(len(songs))
        return original(self, songs)

    monkeypatch.setattr(cls, name, counted)
    return chunks


def _metric(app: Any, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = TestClient(app).get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    )


CASES = [
    ("/explain", Explainer, "explain_rows", EXPLAIN_CHUNK_SONGS),
    ("/predict", Predictor, "predict_proba_rows", PREDICT_CHUNK_SONGS),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_work_stops_before_the_next_chunk_once_the_client_has_gone(
    predictor, songs, monkeypatch, case
):
    path, cls, method, chunk = case
    rows = as_request_songs(songs) * (CHUNKS * chunk // len(songs) + 1)
    body = json.dumps({"songs": rows[: CHUNKS * chunk]}).encode()
    app = create_app(predictor, max_predict_songs=CHUNKS * chunk, max_explain_songs=CHUNKS * chunk)
    chunks = _counting(monkeypatch, cls, method)

    # There for the first check, gone at the second: one chunk done, nothing answered.
    sent = asyncio.run(_serve(app, path, body, _client(body, present_for=1)))
    assert chunks == [chunk]
    assert sent[0]["status"] == CLIENT_GONE
    assert _metric(app, "music_genre_requests_total", route=path, status=str(CLIENT_GONE)) == 1
    assert _metric(app, "music_genre_songs_predicted_total", route=path) == 0

    # A client that stays gets every chunk, in order, as one answer.
    chunks.clear()
    sent = asyncio.run(_serve(app, path, body, _client(body, present_for=CHUNKS)))
    assert chunks == [chunk] * CHUNKS
    assert sent[0]["status"] == 200
    answer = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert len(next(iter(answer.values()))) == CHUNKS * chunk


def test_a_request_cancelled_by_a_stopping_server_is_answered_503_after_its_chunk(
    predictor, songs, monkeypatch
):
    """uvicorn cancels what still runs when the grace period ends: the chunk under way ends,
    no other starts, and the client is told 503 (not uvicorn's 500)."""
    started, release = threading.Event(), threading.Event()
    chunks: list[int] = []
    original = Explainer.explain_rows

    def held(self, songs):
        chunks.append(len(songs))
        started.set()
        release.wait(60)
        return original(self, songs)

    monkeypatch.setattr(Explainer, "explain_rows", held)
    rows = as_request_songs(songs)[: CHUNKS * EXPLAIN_CHUNK_SONGS]
    body = json.dumps({"songs": rows}).encode()
    app = create_app(predictor, max_explain_songs=len(rows))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def stop_while_explaining() -> None:
        receive = _client(body, present_for=CHUNKS)
        request = asyncio.create_task(app(_request("/explain", body), receive, send))
        assert await asyncio.to_thread(started.wait, 60)
        request.cancel()  # what uvicorn does at the end of --grace-period
        release.set()
        await request  # answered, so it ends normally

    asyncio.run(stop_while_explaining())
    assert chunks == [EXPLAIN_CHUNK_SONGS]
    assert sent[0]["status"] == 503
    assert (b"connection", b"close") in sent[0]["headers"]
    error = json.loads(sent[1]["body"])
    assert error["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert error["error"].startswith("the server is stopping")
    assert _metric(app, "music_genre_requests_total", route="/explain", status="503") == 1
