"""What the server's live drift compares rows with, and how: the drift reference (per numeric
input column of the contract the bins of the reference profile, as music_genre.data.drift defines
them for check_data too, and the mix of classes the model predicted on the test split) and the
drift settings."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from music_genre.core import paths
from music_genre.core.errors import DataFileError, ParamsError
from music_genre.data.drift import Bins, bins_from_quantiles
from music_genre.serving.limits import DRIFT_THRESHOLD, DRIFT_WINDOW

if TYPE_CHECKING:
    from music_genre.data.contract import Contract


def class_mix_path(contract: Contract) -> str:
    """Evaluate's per-class counts (rows keyed by the contract's target): the reference of the
    predicted-class mix."""
    return paths.per_class_plot(contract.target)


def drift_columns(contract: Contract) -> tuple[str, ...]:
    """The columns whose live values are compared with the reference: the numeric inputs."""
    return contract.numeric_features


@dataclass(frozen=True)
class DriftReference:
    """What live rows are compared with: the profile's bins per numeric input column, and the
    class mix the model predicted on the test split (evaluate's per-class counts)."""

    bins: dict[str, Bins]
    classes: list[str]
    class_shares: np.ndarray
    sources: dict[str, str]

    @classmethod
    def load(
        cls,
        profile_path: str | os.PathLike[str],
        class_mix_path: str | os.PathLike[str],
        contract: Contract,
        classes: Sequence[str],
    ) -> DriftReference:
        """The reference in these files for a model of `contract` predicting `classes` (in its
        probabilities' order)."""
        return cls(
            _profile_bins(profile_path, contract),
            list(classes),
            _class_shares(class_mix_path, contract, classes),
            {"features": str(profile_path), contract.prediction_column: str(class_mix_path)},
        )


def _profile_bins(profile_path: str | os.PathLike[str], contract: Contract) -> dict[str, Bins]:
    profile = _read_json(profile_path)
    numeric = profile.get("numeric") if isinstance(profile, dict) else None
    if not isinstance(numeric, dict):
        raise DataFileError(f"{profile_path}: not a reference profile (no 'numeric' section)")
    bins = {}
    for column in drift_columns(contract):
        quantiles = numeric.get(column)
        if not isinstance(quantiles, list) or not quantiles:
            raise DataFileError(
                f"{profile_path}: 'numeric.{column}' is missing or empty "
                "(expected the column's quantiles; music-genre reference-profile writes them)"
            )
        bins[column] = bins_from_quantiles(quantiles)
    return bins


def _class_shares(
    class_mix_path: str | os.PathLike[str], contract: Contract, classes: Sequence[str]
) -> np.ndarray:
    rows = _read_json(class_mix_path)
    target = contract.target
    try:
        predicted = {str(row[target]): int(row["predicted"]) for row in rows}
    except (KeyError, TypeError, ValueError):
        raise DataFileError(
            f"{class_mix_path}: expected evaluate's per-class rows with '{target}' and "
            "'predicted' counts (re-run `dvc repro evaluate`)"
        ) from None
    if sorted(predicted) != sorted(classes) or not sum(predicted.values()):
        raise DataFileError(
            f"{class_mix_path}: its classes {sorted(predicted)} are not the model's classes "
            f"{sorted(classes)}"
        )
    counts = np.array([predicted[label] for label in classes], dtype=float)
    return counts / counts.sum()


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
            raise ParamsError(f"--drift-window {self.window}: expected 1 or more rows")
        if not (self.threshold > 0 and math.isfinite(self.threshold)):
            raise ParamsError(f"--drift-threshold {self.threshold}: expected a positive number")

    @classmethod
    def load(
        cls,
        profile_path: str | os.PathLike[str],
        class_mix_path: str | os.PathLike[str],
        contract: Contract,
        classes: Sequence[str],
        *,
        window: int = DRIFT_WINDOW,
        threshold: float = DRIFT_THRESHOLD,
    ) -> DriftSettings:
        """The settings over the references in these files (DriftReference.load), checked."""
        reference = DriftReference.load(profile_path, class_mix_path, contract, classes)
        return cls(reference, window=window, threshold=threshold)
