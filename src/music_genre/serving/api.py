"""The REST API: /predict, /explain, the MLflow scoring protocol (/ping, /health, /version,
/invocations), and what an operator watches: /metrics (Prometheus) and /drift.

Requests are validated by the models of music_genre.serving.inputs (the data contract's ranges),
and every 4xx has one body, ErrorBody. Only the model file this server was started with is ever
unpickled (after its hash check); requests carry data, never models.

No request ties up a worker (the limits below, each declared once): songs per request are
capped, batches beyond a few songs run in a worker thread in chunks of ~0.1 s, and before each
chunk a request whose client has gone is dropped (status 499 in the metrics, nothing sent). A
stopping server drains for a grace period, then answers what is still running 503 and exits.
"""

import asyncio
import json
import logging
import math
import os
import shutil
import socket

# subprocess runs only the fixed `git describe` command below, with no user input.
import subprocess  # nosec B404
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from music_genre.serving.explain import Explainer
from music_genre.serving.inputs import (
    INVOCATIONS_ROUTE,
    MLFLOW_JSON_FORMATS,
    InputError,
    Record,
    Song,
    batch_field,
    cap_message,
    dataframe_split_schema,
    describe,
    one_line,
    records_from_csv,
    records_from_json,
)
from music_genre.serving.monitoring import MULTIPROC_ENV, DriftSettings, Monitor
from music_genre.serving.predict import Predictor

# What one request may cost the server, each limit declared once: the caps on songs, the body
# size, the work done between two checks for a client that has gone, and how long a stopping
# server drains. `serve`, its command-line options, the API's models and its OpenAPI document
# (maxItems) read them.
#
# The caps come from measured cost (`python benchmarks/serving.py --only cost_per_song`, results
# under `cost_per_song` in benchmarks/results/serving.json): the served LightGBM model (6,975 trees)
# behind `serve --workers 1` pinned to one core, one request at a time over real HTTP from another
# core, p50 (p99) per request:
#
#     /predict   100 songs  38 ms  (61 ms)    500 songs 177 ms (221 ms)
#               1000 songs 372 ms (462 ms)   2000 songs 726 ms (796 ms)   ~0.37 ms a song
#     /explain    10 songs  86 ms (116 ms)     50 songs 405 ms (484 ms)
#                100 songs 825 ms (936 ms)    200 songs 1.66 s (1.71 s)   ~8 ms a song
#
# A request at either cap takes under half a second at p99 on one core (`predict_at_cap`,
# `explain_at_cap`: 444 ms and 453 ms over 200 requests), well under one (at twice the caps:
# 0.80 s and 0.94 s).

# Songs per /predict or /invocations request (they share the cost: one prediction per song).
MAX_PREDICT_SONGS: Final = 1_000
# Songs per /explain request: TreeSHAP costs ~20x a prediction.
MAX_EXPLAIN_SONGS: Final = 50
# Bytes per request body. 1,000 rows copied from the songs table (every column, as JSON records)
# are ~0.4 MB; the text of a title or song name costs ~70 ns a byte to tokenize (a 15 MB title:
# 1.1 s), so a body at this limit holds at most ~0.15 s of text, however it is spread over songs.
MAX_BODY_BYTES: Final = 2 * 1024 * 1024

# The work of a request runs in a worker thread, in chunks of this many songs (~0.1 s each on one
# core); before each chunk the server checks that the client is still there, and drops the
# request if not. (A /predict or /invocations batch of up to INLINE_ROWS songs runs on the event
# loop at once.)
PREDICT_CHUNK_SONGS: Final = 250
EXPLAIN_CHUNK_SONGS: Final = 10

# After SIGTERM (or Ctrl-C): stop accepting connections, let requests in flight finish for at
# most this long, then answer those still running 503 and exit.
GRACE_SECONDS: Final = 5.0

# Up to this many songs are predicted on the event loop (a few ms); larger batches go to a
# thread, so /ping and small requests keep being answered meanwhile.
INLINE_ROWS: Final = 64
# What the metrics count for a request whose client went away before its answer (nginx's code).
CLIENT_GONE: Final = 499
JSON_TYPE: Final = "application/json"
CSV_TYPE: Final = "text/csv"
ERROR_CODES: Final = {
    400: "BAD_REQUEST",
    404: "ENDPOINT_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_PARAMETER_VALUE",
    503: "TEMPORARILY_UNAVAILABLE",
}

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where: body part, row, field.")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every 4xx answer."""

    error: str = Field(description="One line: where and what, e.g. `songs.1.tempo: ...`.")
    error_code: str = Field(description="MLflow-style code, e.g. INVALID_PARAMETER_VALUE.")
    detail: list[ErrorDetail] = Field(description="Every problem found.")


class GenrePrediction(BaseModel):
    genre: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[GenrePrediction]


class InvocationsResponse(BaseModel):
    """As MLflow's scoring server answers: one predicted genre per input row."""

    predictions: list[str]


class Status(BaseModel):
    status: str


class Term(BaseModel):
    term: str
    contribution: float


class SongExplanation(BaseModel):
    """A prediction and its decomposition: for every genre, contributions[genre][column] summed
    over the input columns plus base_values[genre] is raw_scores[genre], and the softmax of the
    raw scores is the probabilities."""

    genre: str = Field(description="The predicted genre.")
    probabilities: dict[str, float]
    raw_scores: dict[str, float] = Field(description="Per genre: the model's score (log-odds).")
    base_values: dict[str, float] = Field(description="Per genre: the expected raw score.")
    contributions: dict[str, dict[str, float]] = Field(
        description="Per genre, per input column: its share of the raw score (TreeSHAP). The "
        "text column sums the TF-IDF terms of title and song name."
    )
    top_terms: list[Term] = Field(
        description="The song's own terms that moved the predicted genre's score most."
    )


class ExplainResponse(BaseModel):
    explanations: list[SongExplanation]


class DriftColumn(BaseModel):
    statistic: float | None = Field(description="PSI of the window; null before any song.")
    threshold: float
    drifting: bool | None = Field(description="null until `songs` reaches `songs_needed`.")
    songs: int = Field(description="Songs of the window with a value in this column.")
    songs_needed: int = Field(description="Songs before a verdict (false alarms < 0.1%).")
    bins: int


class DriftWindow(BaseModel):
    songs_per_worker: int = Field(description="Each worker's last songs (--drift-window).")
    workers: int
    songs_at_most: int = Field(description="What the statistics cover when every window is full.")


class DriftReport(BaseModel):
    statistic: str
    threshold: float
    window: DriftWindow
    reference: dict[str, str]
    features: dict[str, DriftColumn]
    predicted_genre: DriftColumn


def _error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    reasons = {
        404: "No such path",
        405: "Method not allowed",
        413: "Request body larger than the server's limit",
        415: "Unsupported content type",
        422: "The request does not satisfy the input contract, or has more songs than the "
        "server's cap",
        503: "The server is stopping and the request did not finish within its grace period "
        "(retry it)",
    }
    return {status: {"model": ErrorBody, "description": reasons[status]} for status in statuses}


def error_response(status: int, message: str, detail: list[dict[str, Any]] | None = None) -> Any:
    body = {
        "error": message,
        "error_code": ERROR_CODES.get(status, "BAD_REQUEST"),
        "detail": detail if detail is not None else [{"loc": [], "msg": message, "type": ""}],
    }
    return JSONResponse(body, status_code=status)


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, declared or streamed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLargeError:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: dict, receive: Any, send: Any) -> None:
        response = error_response(413, f"request body is larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


class _BodyTooLargeError(Exception):
    pass


class GraceExpired:
    """ASGI middleware: a 503 for a request that a stopping server cancels.

    uvicorn lets requests in flight run for --grace-period seconds after SIGTERM, then cancels
    them and would answer 500; this answers 503 (the server is going away: retry) instead, and
    ends the request there. A request in a worker thread is cancelled when its current chunk
    of songs is done.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_started(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_started)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if started or task is None:
                raise  # an answer under way cannot be replaced
            log.warning("%s cancelled at the end of the grace period", scope.get("path"))
            response = error_response(
                503,
                "the server is stopping and this request did not finish within its grace "
                "period; retry it",
            )
            response.headers["connection"] = "close"
            await response(scope, receive, send)
            task.uncancel()  # answered: the request ends here, as it would have on its own


class RequestMetrics:
    """ASGI middleware: count and time every request by route (its path if the API has it,
    else `other`, so random paths cannot grow the metrics) and status code."""

    def __init__(self, app: Any, monitor: Monitor, routes: set[str]) -> None:
        self.app = app
        self.monitor = monitor
        self.routes = routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = scope.get("path", "")
            route = path if path in self.routes else "other"
            self.monitor.request(route, status, time.perf_counter() - start)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _unsupported(request: Request, accepted: tuple[str, ...]) -> InputError:
    got = _media_type(request) or "none"
    return InputError(
        415,
        f"content type '{got}' is not supported (expected {' or '.join(accepted)})",
        [
            {
                "loc": ["header", "content-type"],
                "msg": f"expected {' or '.join(accepted)}",
                "type": "unsupported_media_type",
            }
        ],
    )


async def _require_json(request: Request) -> None:
    # Runs before the body is validated: a CSV or form body gets 415, not a parse error.
    if _media_type(request) != JSON_TYPE:
        raise _unsupported(request, (JSON_TYPE,))


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        where = f" at position {error.pos}" if isinstance(error, json.JSONDecodeError) else ""
        if isinstance(error, json.JSONDecodeError):
            reason = error.msg
        elif type(error) is ValueError:  # an integer longer than Python reads (sys.int_info)
            reason = f"an integer of more than {sys.get_int_max_str_digits()} digits"
        else:
            reason = type(error).__name__
        message = f"request body is not valid JSON ({reason}{where})"
        detail = [{"loc": ["body"], "msg": message, "type": "json_invalid"}]
        raise InputError(422, message, detail) from None


async def _in_chunks(request: Request, songs: list[Any], work: Any, chunk: int) -> list | None:
    """`work` of each chunk of `songs` in a worker thread, in order; None as soon as the client
    has gone (checked before every chunk)."""
    results = []
    for start in range(0, len(songs), chunk):
        if await request.is_disconnected():
            log.info("%s: client gone, %d of %d songs done", request.url.path, start, len(songs))
            return None
        results.append(await run_in_threadpool(work, songs[start : start + chunk]))
    return results


async def _predict(predictor: Predictor, songs: list[dict[str, Any]], request: Request) -> Any:
    """The songs' probabilities, or None when the client went away meanwhile."""
    if len(songs) <= INLINE_ROWS:
        return predictor.predict_proba_songs(songs)
    import numpy as np

    parts = await _in_chunks(request, songs, predictor.predict_proba_songs, PREDICT_CHUNK_SONGS)
    return None if parts is None else np.vstack(parts)


def _gone() -> Response:
    # Never sent (uvicorn drops what is written to a closed connection); counted in the metrics.
    return Response(status_code=CLIENT_GONE)


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload, allow_nan=False), media_type=JSON_TYPE)


def _invocations_openapi(max_rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request body of /invocations (the four JSON forms and CSV, from the input models) and
    the schemas it refers to, for components.schemas."""
    records = batch_field(max_rows, Record)
    forms: dict[str, Any] = {  # Any: field definitions, as create_model takes them
        "dataframe_split": (dict[str, Any], ...),
        "dataframe_records": (records, ...),
        "instances": (records, ...),
        "inputs": (records, ...),
    }
    models = [
        create_model(f"MLflow_{name}", __config__=ConfigDict(extra="forbid"), **{name: form})
        for name, form in forms.items()
    ]
    schemas = [
        model.model_json_schema(ref_template="#/components/schemas/{model}") for model in models
    ]
    schemas[0]["properties"]["dataframe_split"] = dataframe_split_schema(max_rows)
    csv_rows = TypeAdapter(records).json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "description": "One of the MLflow scoring server's input forms. CSV: a header row "
            "of column names (as pandas `to_csv(index=False)` writes), one row per song, an empty "
            "cell for a missing optional value.",
            "content": {
                JSON_TYPE: {"schema": {"oneOf": [_inline(schema) for schema in schemas]}},
                CSV_TYPE: {
                    "schema": {
                        **_inline(csv_rows),
                        "description": "The rows of the CSV table, one object per row "
                        "(CSV carries them as text: a header row, then one line per song).",
                    }
                },
            },
        },
    }, {
        name: definition
        for schema in (*schemas, csv_rows)
        for name, definition in schema.get("$defs", {}).items()
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$defs"}


def _explainer(predictor: Predictor) -> Explainer | InputError:
    try:
        return Explainer.for_predictor(predictor)
    except InputError as error:
        return error  # /explain answers it


def _monitor(
    predictor: Predictor, version: str, drift: DriftSettings | None, workers: int
) -> Monitor:
    card = predictor.card
    return Monitor(
        model=str(card.get("model", "unknown")),
        estimator=str(card.get("estimator", "unknown")),
        version=version,
        model_sha256=str(card.get("model_sha256", "unknown")),
        classes=predictor.classes,
        drift=drift,
        workers=workers,
    )


def create_app(
    predictor: Predictor,
    max_predict_songs: int = MAX_PREDICT_SONGS,
    max_body_bytes: int = MAX_BODY_BYTES,
    *,
    max_explain_songs: int = MAX_EXPLAIN_SONGS,
    monitoring: bool = True,
    drift: DriftSettings | None = None,
    workers: int = 1,
) -> FastAPI:
    """The app of one server process: at most `max_predict_songs` songs per /predict or
    /invocations request and `max_explain_songs` per /explain request, `max_body_bytes` per
    body. `monitoring` adds /metrics (and, with `drift`, /drift); `workers` is how many
    processes serve together (their drift windows add up)."""
    from contextlib import asynccontextmanager

    version = predictor.card.get("versions", {}).get("music-genre", "unknown")
    monitor = _monitor(predictor, version, drift, workers) if monitoring else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        if monitor is not None:
            monitor.close()

    app = FastAPI(
        title="music-genre",
        version=version,
        description="Genre predictions for songs. The MLflow scoring protocol (/ping, /health, "
        "/version, /invocations) plus /predict with probabilities, /explain with each input "
        "column's contribution, /model, the model card, and for operators /metrics "
        "(Prometheus) and /drift (live inputs against the training reference).",
        lifespan=lifespan,
    )
    model_info = {**predictor.card, "git_revision": _git_revision()}
    classes = predictor.classes
    explainer = _explainer(predictor)

    def observe(route: str, songs: list[dict[str, Any]], proba: Any) -> None:
        if monitor is not None:
            monitor.predicted(route, songs, proba)

    # Any: a model made at run time (its cap is an argument), which mypy cannot see as a type.
    PredictRequest: Any = create_model(  # noqa: N806 (a class)
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        songs=(batch_field(max_predict_songs, Song), ...),
    )
    ExplainRequest: Any = create_model(  # noqa: N806 (a class)
        "ExplainRequest",
        __config__=ConfigDict(extra="forbid"),
        songs=(batch_field(max_explain_songs, Song), ...),
    )

    _add_error_handlers(app)

    @app.get("/ping", response_model=Status, summary="Liveness (MLflow, SageMaker)")
    async def ping() -> Any:
        return _json({"status": "ok"})

    @app.get("/health", response_model=Status, summary="Liveness (same as /ping)")
    async def health() -> Any:
        return _json({"status": "ok"})

    @app.get(
        "/version",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="The music-genre version that trained the served model",
    )
    async def get_version() -> Any:
        return Response(version, media_type="text/plain")

    @app.get("/model", summary="The model card: metrics, params, versions, hash")
    async def model() -> dict[str, Any]:
        return model_info

    @app.post(
        "/predict",
        dependencies=[Depends(_require_json)],
        response_model=PredictResponse,
        responses=_error_responses(413, 415, 422, 503),
        summary=f"Genre and probabilities of each song (at most {max_predict_songs})",
    )
    async def predict(body: PredictRequest, request: Request) -> Any:
        songs = [song.model_dump() for song in body.songs]
        proba = await _predict(predictor, songs, request)
        if proba is None:
            return _gone()
        observe("/predict", songs, proba)
        return _json(
            {
                "predictions": [
                    {
                        "genre": classes[int(row.argmax())],
                        "probabilities": dict(zip(classes, row.tolist(), strict=True)),
                    }
                    for row in proba
                ]
            }
        )

    invocations_spec, defs = _invocations_openapi(max_predict_songs)

    @app.post(
        INVOCATIONS_ROUTE,
        response_model=InvocationsResponse,
        responses=_error_responses(413, 415, 422, 503),
        openapi_extra=invocations_spec,
        summary="MLflow scoring: JSON ("
        + ", ".join(MLFLOW_JSON_FORMATS)
        + f") or CSV (at most {max_predict_songs} songs)",
    )
    async def invocations(request: Request) -> Any:
        media_type = _media_type(request)
        if media_type not in (JSON_TYPE, CSV_TYPE):
            raise _unsupported(request, (JSON_TYPE, CSV_TYPE))
        body = await request.body()
        if media_type == CSV_TYPE:
            songs = records_from_csv(body, max_predict_songs)
        else:
            songs = records_from_json(_parse_json(body), max_predict_songs)
        proba = await _predict(predictor, songs, request)
        if proba is None:
            return _gone()
        observe(INVOCATIONS_ROUTE, songs, proba)
        return _json({"predictions": [classes[int(row.argmax())] for row in proba]})

    _add_explain_route(app, explainer, ExplainRequest, max_explain_songs, observe)
    if monitor is not None:
        _add_operator_routes(app, monitor)
    _add_schema_definitions(app, defs)
    limited = GraceExpired(BodySizeLimit(app, max_body_bytes))
    if monitor is None:
        return limited  # type: ignore[return-value]
    routes = {route.path for route in app.routes if hasattr(route, "path")}
    return RequestMetrics(limited, monitor, routes)  # type: ignore[return-value]


def _add_error_handlers(app: FastAPI) -> None:
    """One body, ErrorBody, for every 4xx."""

    @app.exception_handler(InputError)
    async def _input_error(_: Request, error: InputError) -> Any:
        return error_response(error.status, error.message, error.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Any:
        detail = [_request_error(item, request.url.path) for item in error.errors()]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request", "type": ""}
        if first["type"] == "json_invalid":
            message = f"request body is not valid JSON ({first['msg']})"
            return error_response(422, message, detail)
        return error_response(422, one_line(detail) if detail else "invalid request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Any:
        if error.status_code == 400:  # FastAPI could not read the body (e.g. not UTF-8)
            message = f"request body is not valid JSON ({error.detail})"
            return error_response(
                422, message, [{"loc": ["body"], "msg": message, "type": "json_invalid"}]
            )
        message = (
            str(error.detail) if error.status_code != 404 else f"no such path {request.url.path}"
        )
        response = error_response(error.status_code, message)
        response.headers.update(error.headers or {})  # 405 keeps its Allow header
        return response


def _request_error(item: dict[str, Any], route: str) -> dict[str, Any]:
    """One error of a request body as {loc, msg, type}; a list over its cap names the cap."""
    described = describe(item, ())
    described["loc"] = [part for part in described["loc"] if part != "body"]
    cap = (item.get("ctx") or {}).get("max_length")
    if item["type"] == "too_long" and described["loc"] == ["songs"] and cap is not None:
        described["msg"] = cap_message(cap, route, item["ctx"].get("actual_length"))
    return described


def _add_explain_route(
    app: FastAPI,
    explainer: Explainer | InputError,
    request_model: Any,
    max_songs: int,
    observe: Any,
) -> None:
    def _explained(songs: list[dict[str, Any]]) -> tuple[str, Any]:
        """The songs' explanations as JSON array items (no brackets), and their probabilities."""
        assert isinstance(explainer, Explainer)  # nosec B101
        explanations = explainer.explain_songs(songs)
        items = json.dumps(explanations.records(), allow_nan=False)[1:-1]
        return items, explanations.probabilities

    @app.post(
        "/explain",
        dependencies=[Depends(_require_json)],
        response_model=ExplainResponse,
        responses=_error_responses(413, 415, 422, 503),
        summary="Each song's prediction and every input column's contribution to each genre "
        f"(at most {max_songs} songs)",
    )
    async def explain(body: request_model, request: Request) -> Any:
        import numpy as np

        if isinstance(explainer, InputError):
            raise explainer
        songs = [song.model_dump() for song in body.songs]
        parts = await _in_chunks(request, songs, _explained, EXPLAIN_CHUNK_SONGS)
        if parts is None:
            return _gone()
        proba = np.vstack([chunk_proba for _, chunk_proba in parts])
        observe("/explain", songs, proba)
        content = '{"explanations": [' + ",".join(items for items, _ in parts) + "]}"
        return Response(content, media_type=JSON_TYPE)


def _add_operator_routes(app: FastAPI, monitor: Monitor) -> None:
    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics of every worker (text exposition format)",
    )
    async def metrics() -> Any:
        content, content_type = monitor.exposition()
        return Response(content, headers={"Content-Type": content_type})

    if monitor.drift is not None:

        @app.get(
            "/drift",
            response_model=DriftReport,
            summary="Live inputs against the training reference: PSI per audio feature "
            "and for the predicted-genre mix",
        )
        async def get_drift() -> Any:
            return _json(monitor.drift_report())


def _add_schema_definitions(app: FastAPI, defs: dict[str, Any]) -> None:
    """Put the models /invocations refers to beside FastAPI's own in components.schemas."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


MODEL_ENV: Final = "MUSIC_GENRE_SERVE_MODEL"
LIMITS_ENV: Final = "MUSIC_GENRE_SERVE_LIMITS"
MONITORING_ENV: Final = "MUSIC_GENRE_SERVE_MONITORING"


def default_workers() -> int:
    return len(os.sched_getaffinity(0))


def serve(
    model: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int | None = None,
    max_predict_songs: int | None = None,
    max_explain_songs: int | None = None,
    max_body_bytes: int | None = None,
    grace_period: float = GRACE_SECONDS,
    monitoring: bool = True,
    reference_profile: str | os.PathLike[str] | None = None,
    genre_reference: str | os.PathLike[str] | None = None,
    drift_window: int | None = None,
    drift_threshold: float | None = None,
) -> None:
    """Run the API with uvicorn: `workers` processes, each loading the verified model once.

    Limits left as None keep create_app's defaults (MAX_PREDICT_SONGS, ...). On SIGTERM or Ctrl-C
    the server stops accepting connections, lets the requests in flight run for at most
    `grace_period` seconds, answers those still running 503 and exits (each worker, with
    --workers N). With monitoring (the default) and more than one worker, the workers share
    their metrics through a directory made fresh here and removed when the server stops.
    """
    import uvicorn

    from music_genre.core.errors import ParamsError
    from music_genre.serving import monitoring as mon

    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ParamsError(f"--workers {workers}: expected 1 or more")
    if not math.isfinite(grace_period) or grace_period < 0:
        raise ParamsError(f"--grace-period {grace_period}: expected seconds, 0 or more")
    # Limits left unset keep create_app's defaults (one place for them).
    limits = {
        name: value
        for name, value in (
            ("max_predict_songs", max_predict_songs),
            ("max_explain_songs", max_explain_songs),
            ("max_body_bytes", max_body_bytes),
        )
        if value is not None
    }
    for name, value in limits.items():
        if value < 1:
            option = "--" + name.replace("_", "-")
            raise ParamsError(f"{option} {value}: expected 1 or more")
    # Load once here, so a bad model or reference file fails the command before any worker.
    predictor = Predictor.load(model, lean=False)
    settings: dict[str, Any] = {"monitoring": monitoring, "workers": workers}
    references = [
        Path(reference_profile or mon.DEFAULT_PROFILE),
        Path(genre_reference or mon.DEFAULT_GENRE_MIX),
    ]
    defaults_missing = [str(path) for path in references if not path.exists()] and not (
        reference_profile or genre_reference
    )
    if monitoring and defaults_missing:
        # Outside a project (a container with only the model): metrics without drift.
        log.warning(
            "drift is off: %s not found (run in the project, or pass --reference-profile and "
            "--genre-reference)",
            " and ".join(str(path) for path in references if not path.exists()),
        )
    elif monitoring:
        drift = {
            "profile": str(references[0].resolve()),
            "genre_mix": str(references[1].resolve()),
            "window": mon.DEFAULT_WINDOW if drift_window is None else drift_window,
            "threshold": mon.DEFAULT_THRESHOLD if drift_threshold is None else drift_threshold,
        }
        _drift_settings(drift, predictor.classes)
        settings["drift"] = drift
    os.environ[MODEL_ENV] = str(Path(model).resolve())
    os.environ[LIMITS_ENV] = json.dumps(limits)
    os.environ[MONITORING_ENV] = json.dumps(settings)
    metrics_dir = None
    os.environ.pop(MULTIPROC_ENV, None)
    if monitoring and workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="music-genre-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    log.info("serving %s on http://%s:%d with %d worker(s)", model, host, port, workers)
    try:
        uvicorn.run(
            "music_genre.serving.api:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http=NoDelayHttpProtocol,
            log_level="warning",
            # uvicorn's type says int; it waits with asyncio.wait_for, which takes any seconds.
            timeout_graceful_shutdown=grace_period,  # type: ignore[arg-type]
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            os.environ.pop(MULTIPROC_ENV, None)


def _drift_settings(drift: dict[str, Any], classes: list[str]) -> DriftSettings:
    from music_genre.serving.monitoring import DriftReference

    reference = DriftReference.load(drift["profile"], drift["genre_mix"], classes)
    return DriftSettings(reference, window=drift["window"], threshold=drift["threshold"])


class NoDelayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with TCP_NODELAY on every connection.

    With --workers, uvicorn hands the listening socket to its worker processes, and asyncio
    then no longer recognises the accepted connections as TCP (their `proto` reads 0), so it
    skips TCP_NODELAY: the response body, written after the headers, waits for the client's
    delayed ACK and every request takes ~40 ms more. Setting it here makes both modes equal.
    """

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def app_from_environment() -> Any:
    """The app of one uvicorn worker process (serve() passes its arguments in the environment)."""
    predictor = Predictor.load(os.environ[MODEL_ENV])
    settings = json.loads(os.environ.get(MONITORING_ENV, "{}"))
    drift = settings.get("drift")
    return create_app(
        predictor,
        **json.loads(os.environ.get(LIMITS_ENV, "{}")),
        monitoring=settings.get("monitoring", True),
        drift=_drift_settings(drift, predictor.classes) if drift else None,
        workers=settings.get("workers", 1),
    )


def _git_revision() -> str | None:
    try:
        result = subprocess.run(  # nosec B603 B607
            ["git", "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None
