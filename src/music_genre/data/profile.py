"""Statistical profiles of a table: quantiles of each numeric column, category frequencies.

A profile holds statistics only, never rows, so it can be committed to git. The drift check
compares new data against the committed reference profile; the synthetic generator samples
from per-class profiles. The contract says which columns are profiled: quantiles for the
columns of numeric dtype (profiled_columns), value shares for category_columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.data.contract import Contract

PROFILE_VERSION = 1


def quantile_levels(n_quantiles: int) -> np.ndarray:
    """Mid-point probabilities, so n quantiles act as an evenly weighted pseudo-sample of size n."""
    return (np.arange(n_quantiles) + 0.5) / n_quantiles


def build_profile(
    frame: pd.DataFrame, n_quantiles: int, contract: Contract, digits: int = 9
) -> dict[str, Any]:
    levels = quantile_levels(n_quantiles)
    numeric = {}
    for column in contract.profiled_columns:
        values = frame[column].dropna().to_numpy(dtype=float)
        quantiles = np.quantile(values, levels) if len(values) else np.array([])
        numeric[column] = [float(f"{value:.{digits}g}") for value in quantiles]
    categorical = {
        column: {
            str(value): round(float(share), digits)
            for value, share in frame[column].value_counts(normalize=True).sort_index().items()
        }
        for column in contract.category_columns
    }
    return {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "n_quantiles": n_quantiles,
        "missing_fraction": {
            column: round(float(share), digits) for column, share in frame.isna().mean().items()
        },
        "numeric": numeric,
        "categorical": categorical,
    }
