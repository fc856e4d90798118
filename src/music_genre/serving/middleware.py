"""The app's ASGI middleware: the body size limit, the 503 at the end of a stopping server's grace
period, and the request metrics (added with `app.add_middleware`, outermost last)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from music_genre.serving.errors import error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from music_genre.serving.monitoring import Monitor

log = logging.getLogger(__name__)


class BodySizeLimit:
    """413 for a request body over `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
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

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"request body is larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


class _BodyTooLargeError(Exception):
    pass


class GraceExpired:
    """A 503 for a request that a stopping server cancels.

    uvicorn lets requests in flight run for --grace-period seconds after SIGTERM, then cancels
    them and would answer 500; this answers 503 (the server is going away: retry) instead, and
    ends the request there. A request in a worker thread is cancelled when its current chunk
    of rows is done.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_started(message: Message) -> None:
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
    """Count and time every request by route (its path if the API has it, else `other`, so
    random paths cannot grow the metrics) and status code."""

    def __init__(self, app: ASGIApp, monitor: Monitor, routes: Collection[str]) -> None:
        self.app = app
        self.monitor = monitor
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
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
