"""The real songs table, reached through MUSIC_GENRE_DATA_MIRROR: found by its sha256, or the test
is skipped (failed where CI requires it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from music_genre.pipeline.get_data import MIRROR_ENV, find_in_mirrors

REAL_SHA256 = "cd6a292e67639ad0e0c14082e092e57a4bcbb5535305aa2bdf200aac23324000"


# CI sets this so that a missing real dataset fails the run instead of skipping tests.
REQUIRE_REAL_DATA_ENV = "MUSIC_GENRE_REQUIRE_REAL_DATA"


def _mirror_dirs() -> list[Path]:
    return [Path(part) for part in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if part]


def real_data_path() -> Path | None:
    return find_in_mirrors(REAL_SHA256, _mirror_dirs())


def missing_real_data(message: str) -> None:
    """Skip the test, or fail it where CI requires the real data (and what is made from it)."""
    if os.environ.get(REQUIRE_REAL_DATA_ENV) == "1":
        pytest.fail(message)
    pytest.skip(message)
