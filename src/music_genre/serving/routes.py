"""The API's routes, as APIRouters: the probes and the model card (/ping, /health, /version,
/model), scoring (/predict, /invocations), /explain, and for operators /metrics and /drift.

What they serve (the model, its explainer, the monitor, the caps) is the app's `Served`, which a
route gets as a dependency (`get_served`). The routers of /predict, /explain and /drift are made
per app, because their models carry the app's caps (maxItems in the document, a 422 beyond) and
the names of the model's contract (the rows' key, the target, the prediction column).

Batches beyond a few rows run in a worker thread in chunks of ~0.1 s, and before each chunk a
request whose client has gone is dropped (status 499 in the metrics, nothing sent).
"""

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from music_genre.serving.errors import error_responses, unsupported_media_type
from music_genre.serving.explain import Explainer
from music_genre.serving.forms import (
    INVOCATIONS_ROUTE,
    MLFLOW_JSON_FORMATS,
    records_from_csv,
    records_from_json,
)
from music_genre.serving.inputs import InputError
from music_genre.serving.limits import EXPLAIN_CHUNK_SONGS, INLINE_ROWS, PREDICT_CHUNK_SONGS
from music_genre.serving.monitoring import Monitor
from music_genre.serving.predict import Predictor
from music_genre.serving.schemas import (
    CSV_TYPE,
    JSON_TYPE,
    Answers,
    InvocationsResponse,
    Status,
    rows_request,
)

# What the metrics count for a request whose client went away before its answer (nginx's code).
CLIENT_GONE: Final = 499
_TEXT_ANSWER: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}}
}
_BODY_ERRORS: Final = (413, 415, 422, 503)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """What one app serves: the model, its explainer (or the 422 of a model without one), the
    monitor (None: monitoring off), the model card of /model, its version and the row cap of
    /predict and /invocations."""

    predictor: Predictor
    explainer: Explainer | InputError
    monitor: Monitor | None
    model_info: dict[str, Any]
    version: str
    max_predict_songs: int

    def observe(self, route: str, rows: list[dict[str, Any]], proba: Any) -> None:
        if self.monitor is not None:
            self.monitor.predicted(route, rows, proba)


async def get_served(request: Request) -> Served:
    """What the app serves (create_app keeps it in app.state)."""
    return request.app.state.served


async def get_monitor(served: Annotated[Served, Depends(get_served)]) -> Monitor:
    """The monitor: the operator routes are added only with one, so without it they are 404."""
    if served.monitor is None:
        raise StarletteHTTPException(404)
    return served.monitor


ServedDep = Annotated[Served, Depends(get_served)]
MonitorDep = Annotated[Monitor, Depends(get_monitor)]


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def require_json(request: Request) -> None:
    """Runs before the body is validated: a CSV or form body gets 415, not a parse error."""
    if _media_type(request) != JSON_TYPE:
        raise unsupported_media_type(_media_type(request), (JSON_TYPE,))


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


async def _in_chunks(
    request: Request, rows: list[Any], work: Callable[[list[Any]], Any], chunk: int
) -> list[Any] | None:
    """`work` of each chunk of `rows` in a worker thread, in order; None as soon as the client
    has gone (checked before every chunk)."""
    results = []
    for start in range(0, len(rows), chunk):
        if await request.is_disconnected():
            log.info("%s: client gone, %d of %d rows done", request.url.path, start, len(rows))
            return None
        results.append(await run_in_threadpool(work, rows[start : start + chunk]))
    return results


async def _predict(predictor: Predictor, rows: list[dict[str, Any]], request: Request) -> Any:
    """The rows' probabilities, or None when the client went away meanwhile."""
    if len(rows) <= INLINE_ROWS:
        return predictor.predict_proba_rows(rows)
    import numpy as np

    parts = await _in_chunks(request, rows, predictor.predict_proba_rows, PREDICT_CHUNK_SONGS)
    return None if parts is None else np.vstack(parts)


def _gone() -> Response:
    # Never sent (uvicorn drops what is written to a closed connection); counted in the metrics.
    return Response(status_code=CLIENT_GONE)


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload, allow_nan=False), media_type=JSON_TYPE)


probes = APIRouter()


@probes.get("/ping", response_model=Status, summary="Up and answering (MLflow, SageMaker)")
async def ping() -> Any:
    return _json({"status": "ok"})


@probes.get("/health", response_model=Status, summary="Up and answering (same as /ping)")
async def health() -> Any:
    return _json({"status": "ok"})


@probes.get(
    "/version",
    response_class=Response,
    responses=_TEXT_ANSWER,
    summary="The music-genre version that trained the served model",
)
async def get_version(served: ServedDep) -> Any:
    return Response(served.version, media_type="text/plain")


@probes.get("/model", summary="The model card: metrics, params, versions, hash")
async def model(served: ServedDep) -> dict[str, Any]:
    return served.model_info


def _dumped(body: Any) -> list[dict[str, Any]]:
    """The validated rows of a `{"<contract.name>": [...]}` body, keyed by column."""
    return [row.model_dump(by_alias=True) for row in body.rows]


def scoring_router(
    predictor: Predictor, answers: Answers, max_rows: int, invocations_spec: dict[str, Any]
) -> APIRouter:
    """/predict and /invocations, at most `max_rows` rows a request; `invocations_spec` is the
    document's request body of /invocations (serving.openapi)."""
    router = APIRouter()
    contract = predictor.contract
    PredictRequest: Any = rows_request("PredictRequest", predictor.inputs, max_rows)  # noqa: N806 (a class)

    @router.post(
        "/predict",
        dependencies=[Depends(require_json)],
        response_model=answers.predict,
        responses=error_responses(*_BODY_ERRORS),
        summary=f"The predicted {contract.target} and the probabilities of each {contract.row} "
        f"(at most {max_rows})",
    )
    async def predict(body: PredictRequest, request: Request, served: ServedDep) -> Any:
        return await _predictions(_dumped(body), request, served)

    router.add_api_route(
        INVOCATIONS_ROUTE,
        invocations,
        methods=["POST"],
        response_model=InvocationsResponse,
        responses=error_responses(*_BODY_ERRORS),
        openapi_extra=invocations_spec,
        summary="MLflow scoring: JSON ("
        + ", ".join(MLFLOW_JSON_FORMATS)
        + f") or CSV (at most {max_rows} {contract.name})",
    )
    return router


async def _predictions(rows: list[dict[str, Any]], request: Request, served: Served) -> Response:
    proba = await _predict(served.predictor, rows, request)
    if proba is None:
        return _gone()
    served.observe("/predict", rows, proba)
    classes = served.predictor.classes
    target = served.predictor.contract.target
    return _json(
        {
            "predictions": [
                {
                    target: classes[int(row.argmax())],
                    "probabilities": dict(zip(classes, row.tolist(), strict=True)),
                }
                for row in proba
            ]
        }
    )


async def invocations(request: Request, served: ServedDep) -> Any:
    media_type = _media_type(request)
    if media_type not in (JSON_TYPE, CSV_TYPE):
        raise unsupported_media_type(media_type, (JSON_TYPE, CSV_TYPE))
    body = await request.body()
    inputs = served.predictor.inputs
    if media_type == CSV_TYPE:
        rows = records_from_csv(inputs, body, served.max_predict_songs)
    else:
        rows = records_from_json(inputs, _parse_json(body), served.max_predict_songs)
    proba = await _predict(served.predictor, rows, request)
    if proba is None:
        return _gone()
    served.observe(INVOCATIONS_ROUTE, rows, proba)
    classes = served.predictor.classes
    return _json({"predictions": [classes[int(row.argmax())] for row in proba]})


def explain_router(predictor: Predictor, answers: Answers, max_rows: int) -> APIRouter:
    """/explain, at most `max_rows` rows a request."""
    router = APIRouter()
    ExplainRequest: Any = rows_request("ExplainRequest", predictor.inputs, max_rows)  # noqa: N806 (a class)

    @router.post(
        "/explain",
        dependencies=[Depends(require_json)],
        response_model=answers.explain,
        responses=error_responses(*_BODY_ERRORS),
        summary=f"Each {predictor.contract.row}'s prediction and every input column's "
        f"contribution to each class (at most {max_rows} {predictor.contract.name})",
    )
    async def explain(body: ExplainRequest, request: Request, served: ServedDep) -> Any:
        return await _explanations(_dumped(body), request, served)

    return router


async def _explanations(rows: list[dict[str, Any]], request: Request, served: Served) -> Response:
    import numpy as np

    if isinstance(served.explainer, InputError):
        raise served.explainer
    parts = await _in_chunks(
        request, rows, partial(_explained, served.explainer), EXPLAIN_CHUNK_SONGS
    )
    if parts is None:
        return _gone()
    proba = np.vstack([chunk_proba for _, chunk_proba in parts])
    served.observe("/explain", rows, proba)
    content = '{"explanations": [' + ",".join(items for items, _ in parts) + "]}"
    return Response(content, media_type=JSON_TYPE)


def _explained(explainer: Explainer, rows: list[dict[str, Any]]) -> tuple[str, Any]:
    """The rows' explanations as JSON array items (no brackets), and their probabilities."""
    explanations = explainer.explain_rows(rows)
    items = json.dumps(explanations.records(), allow_nan=False)[1:-1]
    return items, explanations.probabilities


metrics_routes = APIRouter()


@metrics_routes.get(
    "/metrics",
    response_class=Response,
    responses=_TEXT_ANSWER,
    summary="Prometheus metrics of every worker (text exposition format)",
)
async def metrics(monitor: MonitorDep) -> Any:
    content, content_type = monitor.exposition()
    return Response(content, headers={"Content-Type": content_type})


def drift_router(answers: Answers) -> APIRouter:
    """/drift, answered in the model's contract's names."""
    router = APIRouter()

    @router.get(
        "/drift",
        response_model=answers.drift,
        summary="Live inputs against the training reference: PSI per numeric input column "
        "and for the predicted-class mix",
    )
    async def get_drift(monitor: MonitorDep) -> Any:
        return _json(monitor.drift_report())

    return router
