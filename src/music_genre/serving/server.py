"""The server process: `serve` runs the API with uvicorn, in one or more worker processes.

`serve` checks its options and loads the model (and the drift references) once, so that a bad
model or reference file fails the command before any worker starts; then it puts the workers'
settings (WorkerSettings) in the environment, where pydantic-settings reads them back in each
worker process (`app_from_environment`, the app factory uvicorn imports).

On SIGTERM or Ctrl-C the server stops accepting connections, lets the requests in flight run for
at most the grace period, answers those still running 503 and exits (each worker, with
--workers N). With monitoring (the default) and more than one worker, the workers share their
metrics through a directory made fresh here and removed when the server stops.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from music_genre.core import paths
from music_genre.core.errors import ParamsError
from music_genre.serving.app import create_app
from music_genre.serving.limits import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DRIFT_THRESHOLD,
    DRIFT_WINDOW,
    GRACE_SECONDS,
    MAX_BODY_BYTES,
    MAX_EXPLAIN_SONGS,
    MAX_PREDICT_SONGS,
    default_workers,
)
from music_genre.serving.monitoring import MULTIPROC_ENV
from music_genre.serving.predict import Predictor
from music_genre.serving.reference import DriftSettings, class_mix_path

if TYPE_CHECKING:
    from music_genre.data.contract import Contract

# The workers' settings are the environment variables SETTINGS_PREFIX + the field's name.
SETTINGS_PREFIX: Final = "MUSIC_GENRE_SERVE_"
# What uvicorn imports in each worker process to make its app.
APP_FACTORY: Final = "music_genre.serving.server:app_from_environment"

log = logging.getLogger(__name__)


class WorkerSettings(BaseSettings):
    """What each worker process makes its app from: the model, the caps, monitoring, and the
    drift references (none: no drift) and settings; `workers` is how many serve together."""

    model_config = SettingsConfigDict(env_prefix=SETTINGS_PREFIX, frozen=True)

    model: Path
    max_predict_songs: int = MAX_PREDICT_SONGS
    max_explain_songs: int = MAX_EXPLAIN_SONGS
    max_body_bytes: int = MAX_BODY_BYTES
    monitoring: bool = True
    workers: int = 1
    reference_profile: Path | None = None
    class_reference: Path | None = None
    drift_window: int = DRIFT_WINDOW
    drift_threshold: float = DRIFT_THRESHOLD

    def export(self) -> None:
        """Put these settings in this process's environment, which the workers inherit."""
        for name, value in self.model_dump(mode="json").items():
            variable = f"{SETTINGS_PREFIX}{name.upper()}"
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value if isinstance(value, str) else json.dumps(value)

    def drift(self, predictor: Predictor) -> DriftSettings | None:
        """The drift settings for the model of `predictor` (its contract and classes)."""
        if self.reference_profile is None or self.class_reference is None:
            return None
        return DriftSettings.load(
            self.reference_profile,
            self.class_reference,
            predictor.contract,
            predictor.classes,
            window=self.drift_window,
            threshold=self.drift_threshold,
        )


def serve(
    model: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int | None = None,
    max_predict_songs: int = MAX_PREDICT_SONGS,
    max_explain_songs: int = MAX_EXPLAIN_SONGS,
    max_body_bytes: int = MAX_BODY_BYTES,
    grace_period: float = GRACE_SECONDS,
    monitoring: bool = True,
    reference_profile: str | os.PathLike[str] | None = None,
    class_reference: str | os.PathLike[str] | None = None,
    drift_window: int = DRIFT_WINDOW,
    drift_threshold: float = DRIFT_THRESHOLD,
) -> None:
    """Run the API with uvicorn: `workers` processes (None: one per CPU), each loading the
    verified model once. The drift references left as None are the project's own (core.paths;
    the class mix is evaluate's file named after the model's target), and drift is off when
    those are absent."""
    workers = default_workers() if workers is None else workers
    _check_options(
        workers,
        grace_period,
        max_predict_songs=max_predict_songs,
        max_explain_songs=max_explain_songs,
        max_body_bytes=max_body_bytes,
    )
    # Load once here, so a bad model or reference file fails the command before any worker.
    predictor = Predictor.load(model, lean=False)
    references = (
        _drift_references(predictor.contract, reference_profile, class_reference)
        if monitoring
        else None
    )
    settings = WorkerSettings(
        model=Path(model).resolve(),
        max_predict_songs=max_predict_songs,
        max_explain_songs=max_explain_songs,
        max_body_bytes=max_body_bytes,
        monitoring=monitoring,
        workers=workers,
        reference_profile=references[0] if references else None,
        class_reference=references[1] if references else None,
        drift_window=drift_window,
        drift_threshold=drift_threshold,
    )
    settings.drift(predictor)  # the references and drift options are good
    settings.export()
    log.info("serving %s on http://%s:%d with %d worker(s)", model, host, port, workers)
    _run(host, port, workers, grace_period, shared_metrics=monitoring and workers > 1)


def _check_options(workers: int, grace_period: float, **caps: int) -> None:
    if workers < 1:
        raise ParamsError(f"--workers {workers}: expected 1 or more")
    if not math.isfinite(grace_period) or grace_period < 0:
        raise ParamsError(f"--grace-period {grace_period}: expected seconds, 0 or more")
    for name, value in caps.items():
        if value < 1:
            option = "--" + name.replace("_", "-")
            raise ParamsError(f"{option} {value}: expected 1 or more")


def _drift_references(
    contract: Contract,
    profile: str | os.PathLike[str] | None,
    class_mix: str | os.PathLike[str] | None,
) -> tuple[Path, Path] | None:
    """The drift references, resolved; None (drift off, with a warning) when neither was given
    and the project's own are not there."""
    references = (
        Path(profile or paths.REFERENCE_PROFILE),
        Path(class_mix or class_mix_path(contract)),
    )
    missing = [str(path) for path in references if not path.exists()]
    if missing and not (profile or class_mix):
        # Outside a project (a container with only the model): metrics without drift.
        log.warning(
            "drift is off: %s not found (run in the project, or pass --reference-profile and "
            "--class-reference)",
            " and ".join(missing),
        )
        return None
    return references[0].resolve(), references[1].resolve()


def _run(host: str, port: int, workers: int, grace_period: float, *, shared_metrics: bool) -> None:
    """uvicorn with the app factory; the workers' shared metrics directory, if any, lives as
    long as the server."""
    import uvicorn

    metrics_dir = None
    os.environ.pop(MULTIPROC_ENV, None)
    if shared_metrics:
        metrics_dir = tempfile.mkdtemp(prefix="music-genre-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run(
            APP_FACTORY,
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


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker process, from the settings serve() put in the environment."""
    settings = WorkerSettings()
    predictor = Predictor.load(settings.model)
    return create_app(
        predictor,
        settings.max_predict_songs,
        settings.max_body_bytes,
        max_explain_songs=settings.max_explain_songs,
        monitoring=settings.monitoring,
        drift=settings.drift(predictor),
        workers=settings.workers,
    )
