"""The exploratory data analysis of the preprocessed table, as pictures and one HTML report.

It replaces the original boilerplate's notebooks (class balance, missing values, feature
distributions, loudness imputation, genre clusters) with a stage that re-runs whenever the data
changes. Everything is deterministic: same table, same bytes.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.core.fileio import atomic_path, write_json
from music_genre.data.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, RAW_COLUMNS, TARGET
from music_genre.data.tracks import label_conflicts, shared_tracks

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PNG_METADATA = {"Software": None}  # no version string: the bytes depend on the data only
# The page, beside this module (package data; dvc.yaml lists it as the stage's dependency).
TEMPLATE = "eda.html.j2"


@dataclass(frozen=True)
class PageFigure:
    name: str
    caption: str
    figure: Figure


def genre_counts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # Most songs first, genres with as many songs in name order (no sort algorithm decides).
    counts = frame[TARGET].value_counts()
    return [
        {"genre": str(genre), "songs": int(count)}
        for genre, count in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    ]


def missing_values(raw_missing: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"column": column, "missing_percent": round(100 * share, 3)}
        for column, share in raw_missing.items()
    ]


def genre_separation(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Share of each numeric feature's variance explained by genre (eta squared), descending."""
    rows = []
    for column in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES):
        values = frame[[column, TARGET]].dropna()
        grand = values[column].mean()
        groups = values.groupby(TARGET)[column]
        between = float((groups.count() * (groups.mean() - grand) ** 2).sum())
        total = float(((values[column] - grand) ** 2).sum())
        rows.append({"feature": column, "eta_squared": round(between / total, 6) if total else 0.0})
    return sorted(rows, key=lambda row: (-row["eta_squared"], row["feature"]))


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
    axes.set_xlim(0, max(max(values) * 1.18, 1))
    axes.set_title(title)
    return figure


def genre_counts_figure(counts: list[dict[str, Any]]) -> Figure:
    return _labelled_bars(
        counts,
        name="genre",
        value="songs",
        label="{:,}",
        title="Songs per genre",
        xlabel="songs (after removing duplicates)",
        colour="tab:blue",
        height=6,
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
        height=5,
    )


def distributions_figure(frame: pd.DataFrame) -> Figure:
    columns = [*NUMERIC_FEATURES]
    genres = sorted(frame[TARGET].unique())
    n_cols = 2
    n_rows = (len(columns) + n_cols - 1) // n_cols
    figure = _figure(15, 4.2 * n_rows)
    axes_grid = figure.subplots(n_rows, n_cols, squeeze=False)
    grouped = frame.groupby(TARGET)
    for axes, column in zip(axes_grid.flat, columns, strict=False):
        data = [grouped.get_group(genre)[column].dropna().to_numpy() for genre in genres]
        axes.boxplot(
            data,
            tick_labels=genres,
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
        "Per-genre distributions of the numeric features (boxes: quartiles; "
        "whiskers: 1.5 IQR; outliers hidden)"
    )
    return figure


def correlation_figure(frame: pd.DataFrame) -> Figure:
    columns = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES, "mode"]
    correlation = frame[columns].corr(method="spearman")
    figure = _figure(10, 8.5)
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


def projection_figure(frame: pd.DataFrame, sample_rows: int, seed: int) -> Figure:
    """PCA of the standardised numeric features (fitted on every row), a seeded sample drawn."""
    import numpy as np
    from sklearn.decomposition import PCA

    values = frame[list(NUMERIC_FEATURES)]
    values = values.fillna(values.median())
    scaled = ((values - values.mean()) / values.std(ddof=0)).to_numpy()
    pca = PCA(n_components=2, svd_solver="full").fit(scaled)
    # Each axis points to its largest entry, so every run (and processor) draws it alike.
    components = pca.components_
    signs = np.sign(components[[0, 1], np.abs(components).argmax(axis=1)])
    points = pca.transform(scaled) * signs
    explained = pca.explained_variance_ratio_
    rng = np.random.default_rng(seed)
    shown = rng.choice(len(points), size=min(sample_rows, len(points)), replace=False)
    figure = _figure(11, 8)
    axes = figure.subplots()
    genres = sorted(frame[TARGET].unique())
    colours = _genre_colours(len(genres))
    labels = frame[TARGET].to_numpy()[shown]
    for genre, colour in zip(genres, colours, strict=True):
        mask = labels == genre
        axes.scatter(
            points[shown][mask, 0],
            points[shown][mask, 1],
            s=6,
            alpha=0.6,
            color=colour,
            label=genre,
        )
    axes.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    axes.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    axes.set_title(f"Songs on the first two principal components ({len(shown):,} sampled)")
    axes.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def shared_tracks_figure(matrix: pd.DataFrame) -> Figure:
    """Genre x genre: tracks listed under both genres (the diagonal, a genre with itself, blank)."""
    import numpy as np

    counts = matrix.to_numpy(dtype=float, copy=True)
    np.fill_diagonal(counts, np.nan)
    genres = list(matrix.index)
    figure = _figure(11, 9.5)
    axes = figure.subplots()
    image = axes.imshow(counts, cmap="Oranges")
    axes.set_xticks(range(len(genres)), genres, rotation=60, ha="right")
    axes.set_yticks(range(len(genres)), genres)
    top = np.nanmax(counts) if np.isfinite(counts).any() else 0
    for i in range(len(genres)):
        for j in range(len(genres)):
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
    figure.colorbar(image, ax=axes, shrink=0.8, label="tracks carrying both genres")
    axes.set_title("Label conflicts: tracks (same audio features) listed under two genres")
    return figure


def _genre_colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab20"]
    return [palette(index) for index in range(count)]


def save_png(figure: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", metadata=PNG_METADATA)


def page_html(
    figures: list[PageFigure],
    summary: pd.DataFrame,
    separation: list[dict[str, Any]],
    conflicts: dict[str, Any],
    image_dir: Path,
) -> str:
    """One self-contained page (eda.html.j2, beside this module): every PNG embedded, so it opens
    offline from anywhere."""
    from jinja2 import Environment, FileSystemLoader
    from markupsafe import Markup

    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        keep_trailing_newline=True,
    )
    return environment.get_template(TEMPLATE).render(
        # pandas escapes its own HTML of the numbers and column names.
        summary_table=Markup(  # nosec B704
            summary.to_html(float_format=lambda value: f"{value:.4g}", border=0)
        ),
        separation=separation,
        conflicts=[(name.replace("_", " "), f"{value:.4g}") for name, value in conflicts.items()],
        figures=[
            {
                "name": item.name,
                "caption": item.caption,
                "data": base64.b64encode((image_dir / f"{item.name}.png").read_bytes()).decode(),
            }
            for item in figures
        ],
    )


def run_eda(
    prepared_path: str, raw_path: str, output_dir: str, sample_rows: int, seed: int
) -> dict[str, Any]:
    """The stage: the tables under data/, the figures under images/ and the EDA page."""
    from music_genre.core.fileio import read_parquet

    frame = read_parquet(prepared_path, columns=[*RAW_COLUMNS])
    # Read like every other table, so a bad file gets the same one-line error.
    raw = read_parquet(raw_path)
    raw_missing = {column: float(raw[column].isna().mean()) for column in raw.columns}
    out = Path(output_dir)
    tables: dict[str, Any] = {
        "genre_counts": genre_counts(frame),
        "missing_values": missing_values(raw_missing),
        "genre_separation": genre_separation(frame),
        "label_conflicts": label_conflicts(frame),
    }
    for name, table in tables.items():
        write_json(table, out / "data" / f"{name}.json")
    figures = page_figures(frame, tables, sample_rows, seed)
    for item in figures:
        save_png(item.figure, out / "images" / f"{item.name}.png")
    summary = frame[[*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]].describe().T
    page = page_html(
        figures, summary, tables["genre_separation"], tables["label_conflicts"], out / "images"
    )
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("EDA of %d songs written to %s", len(frame), out)
    return {
        "counts": tables["genre_counts"],
        "separation": tables["genre_separation"],
        "conflicts": tables["label_conflicts"],
    }


def page_figures(
    frame: pd.DataFrame, tables: dict[str, Any], sample_rows: int, seed: int
) -> list[PageFigure]:
    """The page's figures in order, each with its caption."""
    counts, conflicts = tables["genre_counts"], tables["label_conflicts"]
    return [
        PageFigure(
            "genre_counts",
            "Songs per genre: the classes are imbalanced "
            f"({counts[0]['genre']} has {counts[0]['songs'] / counts[-1]['songs']:.1f}x "
            f"the songs of {counts[-1]['genre']}).",
            genre_counts_figure(counts),
        ),
        PageFigure(
            "missing_values",
            "Missing values per column of the raw table: loudness is "
            "missing for about a fifth of the songs, title for the hip-hop genres and "
            "song_name for the electronic ones.",
            missing_values_figure(tables["missing_values"]),
        ),
        PageFigure(
            "feature_distributions",
            "Per-genre distributions of the numeric features.",
            distributions_figure(frame),
        ),
        PageFigure(
            "correlations", "Spearman correlations between the features.", correlation_figure(frame)
        ),
        PageFigure(
            "projection",
            "PCA projection of the standardised numeric features, coloured "
            "by genre: the electronic genres form their own clusters, the hip-hop genres "
            "overlap.",
            projection_figure(frame, sample_rows, seed),
        ),
        PageFigure(
            "shared_tracks",
            f"Label conflicts: {conflicts['conflicting_tracks']:,} tracks carry more than one "
            f"genre ({conflicts['conflicting_rows']:,} rows, "
            f"{conflicts['conflicting_share']:.1%} of the table); each cell counts the tracks "
            "listed under both genres.",
            shared_tracks_figure(shared_tracks(frame, [row["genre"] for row in counts])),
        ),
    ]
