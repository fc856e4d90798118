"""Saving and loading the model: the pickle beside a JSON card that records its sha256.

A model file is unpickled only after its bytes match the hash in its card, so a corrupt or
swapped file is refused before any of its code could run.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from music_genre.errors import DataFileError, ModelIntegrityError
from music_genre.fileio import atomic_path, read_json, sha256_file, write_json

CARD_SUFFIX = ".json"
_VERSIONED_PACKAGES = ("music-genre", "scikit-learn", "numpy", "pandas", "pyarrow", "joblib")


def card_path_for(model_path: str | os.PathLike[str]) -> Path:
    return Path(model_path).with_suffix(CARD_SUFFIX)


def library_versions() -> dict[str, str]:
    versions = {name: metadata.version(name) for name in _VERSIONED_PACKAGES}
    versions["python"] = platform.python_version()
    return versions


def save_model(model: Any, card: dict[str, Any], model_path: str | os.PathLike[str]) -> None:
    """Write the model, then its card with the model's sha256 (card last: it vouches for it)."""
    import joblib

    with atomic_path(model_path) as tmp:
        joblib.dump(model, tmp)
        model_sha256 = sha256_file(tmp)
    write_json(
        {**card, "model_file": Path(model_path).name, "model_sha256": model_sha256},
        card_path_for(model_path),
    )


def load_card(model_path: str | os.PathLike[str]) -> dict[str, Any]:
    card_path = card_path_for(model_path)
    if not card_path.is_file():
        raise DataFileError(f"{card_path}: model card not found (it records the model's hash)")
    card = read_json(card_path)
    if not isinstance(card, dict) or "model_sha256" not in card:
        raise DataFileError(f"{card_path}: not a model card (no 'model_sha256' field)")
    return card


def load_model(model_path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Verify the model file against its card's sha256, then unpickle it."""
    import joblib

    path = Path(model_path)
    card = load_card(path)
    if not path.is_file():
        raise DataFileError(f"{path}: model file not found")
    actual = sha256_file(path)
    if actual != card["model_sha256"]:
        raise ModelIntegrityError(
            f"{path}: sha256 {actual} does not match {card_path_for(path)} "
            f"(model_sha256={card['model_sha256']}); refusing to unpickle it"
        )
    # The bytes are the ones this pipeline wrote and hashed, so unpickling them is safe.
    return joblib.load(path), card  # nosec B301
