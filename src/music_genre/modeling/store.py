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

from music_genre.core import paths
from music_genre.core.errors import DataFileError, ModelIntegrityError
from music_genre.core.fileio import atomic_path, read_json, sha256_file, write_json

CARD_SUFFIX = ".json"
# Where the pipeline writes the model (dvc.yaml's train stage) and what the registry versions.
MODEL_PATH = paths.MODEL
_VERSIONED_PACKAGES = (
    "music-genre",
    "scikit-learn",
    "lightgbm",
    "numpy",
    "pandas",
    "pyarrow",
    "joblib",
)


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


def verify_model(model_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check the model file against its card's sha256; return the card."""
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
    return card


def load_model(model_path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Verify the model file against its card's sha256, then unpickle it."""
    import joblib

    path = Path(model_path)
    card = verify_model(path)
    # The bytes are the ones this pipeline wrote and hashed, so unpickling them is safe.
    return joblib.load(path), card  # nosec B301


def fetch_model(rev: str, output_dir: str | os.PathLike[str], repo: str | None = None) -> Path:
    """Copy the model and its card at git revision/tag `rev` (from DVC storage) and verify them.

    `repo` is a git URL or path (default: this repository). Returns the local model path.
    """
    import shutil

    import dvc.api
    from dvc.exceptions import DvcException
    from scmrepo.exceptions import SCMError

    target = Path(output_dir) / Path(MODEL_PATH).name
    for remote_path, local_path in (
        (MODEL_PATH, target),
        (str(card_path_for(MODEL_PATH)), card_path_for(target)),
    ):
        try:
            with (
                dvc.api.open(remote_path, repo=repo, rev=rev, mode="rb") as source,
                atomic_path(local_path) as tmp,
                tmp.open("wb") as sink,
            ):
                shutil.copyfileobj(source, sink)
        except (DvcException, SCMError) as error:
            where = f"{repo or '.'}@{rev}"
            raise DataFileError(f"{where}: cannot fetch {remote_path} ({error})") from None
    verify_model(target)
    return target
