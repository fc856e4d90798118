"""A real `music-genre serve` process on 127.0.0.1, and songs as a client sends them."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from music_genre.data.contract import Contract
from support.data import songs_contract


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (until someone binds it)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_request_songs(frame, contract: Contract | None = None):
    """Rows as JSON-ready dicts (NaN -> null), only the columns the API accepts (the input
    columns of `contract`, by default the songs')."""
    contract = contract or songs_contract()
    records = frame[list(contract.input_columns)].to_dict("records")
    return [
        {
            key: (None if isinstance(value, float) and math.isnan(value) else value)
            for key, value in record.items()
        }
        for record in records
    ]


@contextmanager
def serving(model: Path, *options: str) -> Iterator[str]:
    """`music-genre serve` on a free port of 127.0.0.1; yields its base URL once it answers."""
    with serving_process(model, *options) as (base, _):
        yield base


@contextmanager
def serving_process(
    model: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """As serving(), yielding the base URL and the server's process (`env`: added variables)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "music_genre.cli",
            "serve",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited: {process.communicate()[1]}")
            try:
                if httpx.get(f"{base}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("server did not answer /ping within 90 s")
                time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)
