"""The songs table's contract and synthetic tables shaped like it; the real songs table, reached
through MUSIC_GENRE_DATA_MIRROR: found by its sha256, or the test is skipped (failed where CI
requires it)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from music_genre.data.contract import Contract, load_contract
from music_genre.pipeline.get_data import MIRROR_ENV, find_in_mirrors

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SONGS_CONTRACT = ROOT / "contract.yaml"
# The songs' per-class statistics (params.yaml data.synthetic_spec).
SONGS_SPEC = ROOT / "data" / "synthetic_spec.json"
PENGUINS_CONTRACT = ROOT / "examples" / "penguins" / "contract.yaml"
REAL_SHA256 = "cd6a292e67639ad0e0c14082e092e57a4bcbb5535305aa2bdf200aac23324000"


@cache
def songs_contract() -> Contract:
    return load_contract(SONGS_CONTRACT)


@cache
def songs_spec() -> dict[str, Any]:
    from music_genre.data.synthetic import load_spec

    return load_spec(SONGS_SPEC)


def synthetic_songs(n_rows: int, seed: int) -> pd.DataFrame:
    """A raw table shaped like the real songs (drawn from their per-class statistics)."""
    from music_genre.data.synthetic import generate

    return generate(n_rows, seed, songs_contract(), songs_spec())


def prepared_songs(n_rows: int, seed: int) -> pd.DataFrame:
    """synthetic_songs, preprocessed."""
    from music_genre.pipeline.preprocess import preprocess

    return preprocess(synthetic_songs(n_rows, seed), songs_contract())


def with_text(contract: Contract, *columns: str, name: str = "notes_text") -> Contract:
    """`contract` with nullable text columns composed (in this order) into the feature `name`."""
    card = contract.card()
    card["columns"] = [
        *card["columns"],
        *({"name": column, "role": "text", "dtype": "str", "nullable": True} for column in columns),
    ]
    return Contract.model_validate({**card, "text": {"name": name, "columns": list(columns)}})


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
