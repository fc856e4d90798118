"""The EDA page's figures (pipeline/eda.py computes their data and captions).

Every title and label comes from the contract: the table's name, its target and its entity.
Everything is deterministic: same table, same PNG bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.core.fileio import atomic_path

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from music_genre.data.contract import Contract

PNG_METADATA = {"Software": None}  # no version string: the bytes depend on the data only


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _labelled_bars(
    rows: list[dict[str, Any]],
    *,
    name: str,
    value: str,
    label: str,
    title: str,
    xlabel: str,
    colour: str,
    height: float,
) -> Figure:
    """Horizontal bars, first row on top, each bar labelled with its value."""
    figure = _figure(9, height)
    axes = figure.subplots()
    names = [row[name] for row in rows][::-1]
    values = [row[value] for row in rows][::-1]
    axes.barh(names, values, color=colour)
    for y, amount in enumerate(values):
        axes.text(amount, y, " " + label.format(amount), va="center", fontsize=9)
    axes.set_xlabel(xlabel)
    axes.set_xlim(0, max(max(values, default=0) * 1.18, 1))
    axes.set_title(title)
    return figure


def counts_figure(counts: list[dict[str, Any]], contract: Contract) -> Figure:
    return _labelled_bars(
        counts,
        name=contract.target,
        value=contract.name,
        label="{:,}",
        title=f"{contract.name.capitalize()} per {contract.target}",
        xlabel=f"{contract.name} (after removing duplicates)",
        colour="tab:blue",
        height=max(3.0, 0.4 * len(counts)),
    )


def missing_values_figure(missing: list[dict[str, Any]]) -> Figure:
    return _labelled_bars(
        missing,
        name="column",
        value="missing_percent",
        label="{:.1f}%",
        title="Missing values per column (raw table)",
        xlabel="missing values in the raw table (%)",
        colour="tab:orange",
        height=max(5.0, 0.25 * len(missing)),
    )


def distributions_figure(frame: pd.DataFrame, columns: list[str], contract: Contract) -> Figure:
    """Box plots of each column per class."""
    target = contract.target
    labels = sorted(frame[target].unique())
    n_cols = 2
    n_rows = (len(columns) + n_cols - 1) // n_cols
    figure = _figure(15, 4.2 * n_rows)
    axes_grid = figure.subplots(n_rows, n_cols, squeeze=False)
    grouped = frame.groupby(target)
    for axes, column in zip(axes_grid.flat, columns, strict=False):
        data = [grouped.get_group(label)[column].dropna().to_numpy() for label in labels]
        axes.boxplot(
            data,
            tick_labels=labels,
            showfliers=False,
            patch_artist=True,
            boxprops={"facecolor": "lightsteelblue"},
            medianprops={"color": "black"},
        )
        axes.set_title(column)
        axes.tick_params(axis="x", labelrotation=60, labelsize=8)
    for axes in list(axes_grid.flat)[len(columns) :]:
        axes.set_visible(False)
    figure.suptitle(
        f"Per-{target} distributions of the numeric features (boxes: quartiles; "
        "whiskers: 1.5 IQR; outliers hidden)"
    )
    return figure


def correlation_figure(correlation: pd.DataFrame) -> Figure:
    columns = list(correlation.columns)
    size = max(4.0, len(columns) * 8.5 / 13)  # 8.5 inches for 13 columns
    figure = _figure(size + 1.5, size)
    axes = figure.subplots()
    image = axes.imshow(correlation.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    axes.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
    axes.set_yticks(range(len(columns)), columns)
    for i in range(len(columns)):
        for j in range(len(columns)):
            value = correlation.iloc[i, j]
            axes.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(value) > 0.6 else "black",
            )
    figure.colorbar(image, ax=axes, shrink=0.8, label="Spearman correlation")
    axes.set_title("Feature correlations")
    return figure


def principal_components(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, Any]:
    """The rows on the first two principal components of the standardised `columns` (fitted on
    every row), and the variance share each explains."""
    import numpy as np
    from sklearn.decomposition import PCA

    values = frame[columns]
    values = values.fillna(values.median())
    spread = values.std(ddof=0).replace(0.0, 1.0)
    scaled = ((values - values.mean()) / spread).to_numpy()
    pca = PCA(n_components=2, svd_solver="full").fit(scaled)
    # Each axis points to its largest entry, so every run (and processor) draws it alike.
    components = pca.components_
    signs = np.sign(components[[0, 1], np.abs(components).argmax(axis=1)])
    return pca.transform(scaled) * signs, pca.explained_variance_ratio_


def projection_figure(
    points: np.ndarray, explained: Any, labels: np.ndarray, shown: np.ndarray, contract: Contract
) -> Figure:
    """The sampled rows (`shown`) on the two components, coloured by class."""
    figure = _figure(11, 8)
    axes = figure.subplots()
    classes = sorted(set(labels))
    shown_labels = labels[shown]
    for label, colour in zip(classes, class_colours(len(classes)), strict=True):
        mask = shown_labels == label
        axes.scatter(
            points[shown][mask, 0],
            points[shown][mask, 1],
            s=6,
            alpha=0.6,
            color=colour,
            label=label,
        )
    axes.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    axes.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    axes.set_title(
        f"{contract.name.capitalize()} on the first two principal components "
        f"({len(shown):,} sampled)"
    )
    axes.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def shared_tracks_figure(matrix: pd.DataFrame, contract: Contract) -> Figure:
    """Class x class: entities listed under both classes (the diagonal, a class with itself,
    blank)."""
    import numpy as np

    entity = contract.groups.name if contract.groups else "group"
    counts = matrix.to_numpy(dtype=float, copy=True)
    np.fill_diagonal(counts, np.nan)
    labels = list(matrix.index)
    size = max(5.0, 0.6 * len(labels))
    figure = _figure(size + 2, size + 0.5)
    axes = figure.subplots()
    image = axes.imshow(counts, cmap="Oranges")
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    top = np.nanmax(counts) if np.isfinite(counts).any() else 0
    for i in range(len(labels)):
        for j in range(len(labels)):
            if i != j and counts[i, j] > 0:
                axes.text(
                    j,
                    i,
                    f"{int(counts[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if counts[i, j] > 0.6 * top else "black",
                )
    figure.colorbar(image, ax=axes, shrink=0.8, label=f"{entity}s carrying both classes")
    axes.set_title(f"Label conflicts: {entity}s listed under two classes of {contract.target}")
    return figure


def class_colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab20"]
    return [palette(index % palette.N) for index in range(count)]


def save_png(figure: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", metadata=PNG_METADATA)
