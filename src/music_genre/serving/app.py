"""The app of one server process: the REST API over a loaded model.

/predict, /explain, the MLflow scoring protocol (/ping, /health, /version, /invocations), the model
card (/model), and what an operator watches: /metrics (Prometheus) and /drift. The app speaks the
data contract the model carries in its card (Predictor.contract): requests are validated by the
row models made from it (music_genre.serving.inputs: its columns, ranges and values), and its
names key the answers (the rows, the target, the prediction column). Every 4xx has one body,
ErrorBody. Only the model file this server was started with is ever unpickled
(after its hash check); requests carry data, never models. No request ties up a worker: the
limits of serving.limits cap what one may cost.
"""

from __future__ import annotations

# subprocess runs only the fixed `git describe` command below, with no user input.
import subprocess  # nosec B404
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from music_genre.serving.errors import EXCEPTION_HANDLERS
from music_genre.serving.explain import Explainer
from music_genre.serving.inputs import InputError
from music_genre.serving.limits import MAX_BODY_BYTES, MAX_EXPLAIN_SONGS, MAX_PREDICT_SONGS
from music_genre.serving.middleware import BodySizeLimit, GraceExpired, RequestMetrics
from music_genre.serving.monitoring import DriftSettings, Monitor
from music_genre.serving.openapi import DocumentedAPI, invocations_openapi
from music_genre.serving.predict import Predictor
from music_genre.serving.routes import (
    Served,
    drift_router,
    explain_router,
    metrics_routes,
    probes,
    scoring_router,
)
from music_genre.serving.schemas import Answers

DESCRIPTION = (
    "Predictions of {target} for {name}. The MLflow scoring protocol (/ping, /health, /version, "
    "/invocations) plus /predict with probabilities, /explain with each input column's "
    "contribution, /model, the model card, and for operators /metrics (Prometheus) and /drift "
    "(live inputs against the training reference)."
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
    """The app of one server process for `predictor`'s model and contract: at most
    `max_predict_songs` rows per /predict or /invocations request and `max_explain_songs` per
    /explain request, `max_body_bytes` per body. `monitoring` adds /metrics (and, with `drift`,
    /drift); `workers` is how many processes serve together (their drift windows add up)."""
    contract, inputs = predictor.contract, predictor.inputs
    version = predictor.card.get("versions", {}).get("music-genre", "unknown")
    monitor = _monitor(predictor, version, drift, workers) if monitoring else None
    invocations_spec, definitions = invocations_openapi(inputs, max_predict_songs)
    answers = Answers.of(inputs)
    app = DocumentedAPI(
        extra_schemas=definitions,
        title="music-genre",
        version=version,
        description=DESCRIPTION.format(target=contract.target, name=contract.name),
        lifespan=_lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.inputs = inputs  # the error handlers' row models
    app.state.served = Served(
        predictor=predictor,
        explainer=_explainer(predictor),
        monitor=monitor,
        model_info={**predictor.card, "git_revision": _git_revision()},
        version=version,
        max_predict_songs=max_predict_songs,
    )
    routers = [probes, scoring_router(predictor, answers, max_predict_songs, invocations_spec)]
    routers.append(explain_router(predictor, answers, max_explain_songs))
    if monitor is not None:
        routers.append(metrics_routes)
        if monitor.drift is not None:
            routers.append(drift_router(answers))
    for router in routers:
        app.include_router(router)
    # Each added middleware wraps the ones before: the metrics see every answer, the 503 too.
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(GraceExpired)
    if monitor is not None:
        # FastAPI's own routes (the document, the docs) and the routers'.
        routes = [*app.routes, *(route for router in routers for route in router.routes)]
        paths = frozenset(path for route in routes if (path := getattr(route, "path", None)))
        app.add_middleware(RequestMetrics, monitor=monitor, routes=paths)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    monitor = app.state.served.monitor
    if monitor is not None:
        monitor.close()


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
        contract=predictor.contract,
        drift=drift,
        workers=workers,
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
