"""What the server's live drift compares songs with, and how: the drift reference (per audio
feature the bins of the reference profile, as music_genre.data.drift defines them for check_data
too, and the genre mix the model predicted on the test split) and the drift settings."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from music_genre.core.errors import DataFileError, ParamsError
from music_genre.data.drift import Bins, bins_from_quantiles
from music_genre.data.features import NUMERIC_FEATURES
from music_genre.serving.limits import DRIFT_THRESHOLD, DRIFT_WINDOW

DRIFT_FEATURES: Final = NUMERIC_FEATURES


@dataclass(frozen=True)
class DriftReference:
    """What live songs are compared with: the profile's bins per audio feature, and the genre
    mix the model predicted on the test split (evaluate's per-genre counts)."""

    bins: dict[str, Bins]
    genres: list[str]
    genre_shares: np.ndarray
    sources: dict[str, str]

    @classmethod
    def load(cls, profile_path: str | os.PathLike[str], genre_mix_path: str | os.PathLike[str],
             classes: Sequence[str]) -> DriftReference:  # fmt: skip
        profile = _read_json(profile_path)
        numeric = profile.get("numeric") if isinstance(profile, dict) else None
        if not isinstance(numeric, dict):
            raise DataFileError(f"{profile_path}: not a reference profile (no 'numeric' section)")
        bins = {}
        for feature in DRIFT_FEATURES:
            quantiles = numeric.get(feature)
            if not isinstance(quantiles, list) or not quantiles:
                raise DataFileError(
                    f"{profile_path}: 'numeric.{feature}' is missing or empty "
                    "(expected the feature's quantiles; music-genre reference-profile writes them)"
                )
            bins[feature] = bins_from_quantiles(quantiles)
        rows = _read_json(genre_mix_path)
        try:
            predicted = {str(row["genre"]): int(row["predicted"]) for row in rows}
        except (KeyError, TypeError, ValueError):
            raise DataFileError(
                f"{genre_mix_path}: expected evaluate's per-genre rows with 'genre' and "
                "'predicted' counts (re-run `dvc repro evaluate`)"
            ) from None
        if sorted(predicted) != sorted(classes) or not sum(predicted.values()):
            raise DataFileError(
                f"{genre_mix_path}: its genres {sorted(predicted)} are not the model's classes "
                f"{sorted(classes)}"
            )
        counts = np.array([predicted[genre] for genre in classes], dtype=float)
        return cls(
            bins,
            list(classes),
            counts / counts.sum(),
            {"features": str(profile_path), "predicted_genre": str(genre_mix_path)},
        )


def _read_json(path: str | os.PathLike[str]) -> Any:
    # Not core.fileio.read_json: a directory or an unreadable file is one line here too, and
    # the message says which file it is.
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found (a drift reference)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataFileError(f"{path}: not readable JSON ({error})") from None


@dataclass(frozen=True)
class DriftSettings:
    reference: DriftReference
    window: int = DRIFT_WINDOW
    threshold: float = DRIFT_THRESHOLD

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ParamsError(f"--drift-window {self.window}: expected 1 or more songs")
        if not (self.threshold > 0 and math.isfinite(self.threshold)):
            raise ParamsError(f"--drift-threshold {self.threshold}: expected a positive number")

    @classmethod
    def load(
        cls,
        profile_path: str | os.PathLike[str],
        genre_mix_path: str | os.PathLike[str],
        classes: Sequence[str],
        *,
        window: int = DRIFT_WINDOW,
        threshold: float = DRIFT_THRESHOLD,
    ) -> DriftSettings:
        """The settings over the references in these files (DriftReference.load), checked."""
        reference = DriftReference.load(profile_path, genre_mix_path, classes)
        return cls(reference, window=window, threshold=threshold)
