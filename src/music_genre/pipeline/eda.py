"""The exploratory data analysis of the preprocessed table, as pictures and one HTML report.

Class balance, missing values, per-class distributions, correlations, a 2-D projection and,
when the contract declares groups, the label conflicts between copies of an entity: a stage
that re-runs whenever the data or the contract changes. Every caption is computed from the data
and the contract (which columns, classes and entity there are); a figure the table cannot have
(no numeric column, no groups) is left out. Deterministic: same table, same bytes.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.core.fileio import atomic_path, write_json
from music_genre.pipeline import eda_figures as figures

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from music_genre.data.contract import Contract

log = logging.getLogger(__name__)

# The page, beside this module (package data; dvc.yaml lists it as the stage's dependency).
TEMPLATE = "eda.html.j2"
# A class whose rows miss a column at least this often "misses it entirely" in the caption.
ALL_MISSING = 0.99
# Classes named in one sentence before they are only counted.
MAX_NAMED = 8


@dataclass(frozen=True)
class PageFigure:
    name: str
    caption: str
    figure: Figure


def class_counts(frame: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """Rows per class, most first; classes with as many rows in name order."""
    counts = frame[contract.target].value_counts()
    return [
        {contract.target: str(label), contract.name: int(count)}
        for label, count in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    ]


def missing_values(raw_missing: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"column": column, "missing_percent": round(100 * share, 3)}
        for column, share in raw_missing.items()
    ]


def numeric_inputs(frame: pd.DataFrame, contract: Contract) -> list[str]:
    """The model's input columns of numeric dtype (numeric features, integer categories)."""
    import pandas as pd

    inputs = (*contract.numeric_features, *contract.categorical_features)
    return [column for column in inputs if pd.api.types.is_numeric_dtype(frame[column])]


def class_separation(frame: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """Share of each numeric input's variance explained by the class (eta squared), descending."""
    target = contract.target
    rows = []
    for column in numeric_inputs(frame, contract):
        values = frame[[column, target]].dropna()
        grand = values[column].mean()
        groups = values.groupby(target)[column]
        between = float((groups.count() * (groups.mean() - grand) ** 2).sum())
        total = float(((values[column] - grand) ** 2).sum())
        rows.append({"feature": column, "eta_squared": round(between / total, 6) if total else 0.0})
    return sorted(rows, key=lambda row: (-row["eta_squared"], row["feature"]))


# --- captions, from the numbers ---------------------------------------------------------------
def _named(labels: list[str], total: int) -> str:
    listed = f": {', '.join(labels)}" if len(labels) <= MAX_NAMED else ""
    return f"{len(labels)} of the {total} classes{listed}"


def counts_caption(counts: list[dict[str, Any]], contract: Contract) -> str:
    head = f"{contract.name.capitalize()} per {contract.target}"
    if len(counts) < 2:
        return f"{head}: a single class in the table."
    top, bottom = counts[0], counts[-1]
    ratio = top[contract.name] / bottom[contract.name]
    balance = "imbalanced" if ratio >= 1.5 else "balanced"
    return (
        f"{head}: the classes are {balance} ({top[contract.target]} has {ratio:.1f}x the "
        f"{contract.name} of {bottom[contract.target]})."
    )


def missing_caption(raw: pd.DataFrame, contract: Contract) -> str:
    """Which columns miss values, how often, and the classes that miss a column entirely."""
    head = "Missing values per column of the raw table"
    shares = raw.isna().mean()
    missing = sorted(
        ((str(column), float(share)) for column, share in shares.items() if share > 0),
        key=lambda item: (-item[1], item[0]),
    )
    if not missing:
        return f"{head}: none, every column is complete."
    target = contract.target
    per_class = raw.drop(columns=[target]).isna().groupby(raw[target]).mean()
    parts = []
    for column, share in missing:
        part = f"{column} in {share:.1%} of the rows"
        if column in per_class.columns:
            whole = sorted(
                str(label) for label in per_class.index[per_class[column] >= ALL_MISSING]
            )
            if whole and len(whole) < len(per_class):
                part += f" (all the rows of {_named(whole, len(per_class))})"
        parts.append(part)
    return f"{head}: " + "; ".join(parts) + "."


def separation_summary(separation: list[dict[str, Any]], contract: Contract) -> str:
    if not separation:
        return f"No numeric input column to compare with {contract.target}."
    top = ", ".join(f"{row['feature']} ({row['eta_squared']:.2f})" for row in separation[:3])
    text = f"{contract.target} explains most of the variance of {top}"
    if len(separation) > 3:
        last = separation[-1]
        text += f"; least of {last['feature']} ({last['eta_squared']:.2f})"
    return text + "."


def correlation_caption(correlation: pd.DataFrame) -> str:
    columns = list(correlation.columns)
    pairs = [
        (abs(float(correlation.iloc[i, j])), columns[i], columns[j], float(correlation.iloc[i, j]))
        for i in range(len(columns))
        for j in range(i + 1, len(columns))
        if correlation.iloc[i, j] == correlation.iloc[i, j]  # not NaN
    ]
    if not pairs:
        return "Spearman correlations between the features."
    _, left, right, value = max(pairs, key=lambda pair: (pair[0], pair[1], pair[2]))
    return (
        "Spearman correlations between the features; the strongest: "
        f"{left} and {right} ({value:.2f})."
    )


def projection_caption(points: Any, explained: Any, labels: Any, contract: Contract) -> str:
    """The two components' variance, and how often the nearest class centre on them is the
    row's own class (computed on every row)."""
    import numpy as np

    classes = sorted(set(labels))
    centres = np.array([points[labels == label].mean(axis=0) for label in classes])
    distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    nearest = np.array(classes, dtype=object)[distances.argmin(axis=1)]
    own = {label: float((nearest[labels == label] == label).mean()) for label in classes}
    ranked = sorted(own.items(), key=lambda item: (-item[1], item[0]))
    # Up to two at each end, never one class at both (three classes: one and one).
    shown = max(1, min(2, len(ranked) // 2))
    best = ", ".join(f"{label} ({share:.0%})" for label, share in ranked[:shown])
    worst = ", ".join(f"{label} ({share:.0%})" for label, share in ranked[-shown:][::-1])
    return (
        f"PCA projection of the standardised numeric features, coloured by {contract.target}: "
        f"the two components explain {explained[0]:.0%} and {explained[1]:.0%} of the "
        f"variance. Placed at the nearest class centre on them, "
        f"{float((nearest == labels).mean()):.0%} of the rows land in their own class "
        f"(chance: {1 / len(classes):.0%}); best separated {best}; least {worst}."
    )


def conflicts_caption(conflicts: dict[str, Any], contract: Contract) -> str:
    entity = contract.groups.name if contract.groups else "group"
    return (
        f"Label conflicts: {conflicts[f'conflicting_{entity}s']:,} {entity}s carry more than "
        f"one {contract.target} ({conflicts['conflicting_rows']:,} rows, "
        f"{conflicts['conflicting_share']:.1%} of the table); each cell counts the {entity}s "
        "listed under both classes."
    )


# --- the page ---------------------------------------------------------------------------------
def correlation_columns(frame: pd.DataFrame, contract: Contract) -> list[str]:
    """The numeric inputs, then the other columns of numeric dtype (never the target)."""
    columns = numeric_inputs(frame, contract)
    rest = [
        column
        for column in contract.profiled_columns
        if column not in columns and column != contract.target
    ]
    return [*columns, *rest]


def page_figures(
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    tables: dict[str, Any],
    contract: Contract,
    *,
    sample_rows: int,
    seed: int,
) -> list[PageFigure]:
    """The page's figures in order, each with its caption; those the table cannot have are
    left out."""
    target = contract.target
    counts = tables[f"{target}_counts"]
    page = [
        PageFigure(
            f"{target}_counts",
            counts_caption(counts, contract),
            figures.counts_figure(counts, contract),
        ),
        PageFigure(
            "missing_values",
            missing_caption(raw, contract),
            figures.missing_values_figure(tables["missing_values"]),
        ),
        *numeric_figures(frame, tables, contract, sample_rows=sample_rows, seed=seed),
    ]
    conflicts = tables.get("label_conflicts")
    if conflicts is not None:
        from music_genre.data.tracks import shared_tracks

        matrix = shared_tracks(frame, [row[target] for row in counts], contract)
        page.append(
            PageFigure(
                "shared_tracks",
                conflicts_caption(conflicts, contract),
                figures.shared_tracks_figure(matrix, contract),
            )
        )
    return page


def numeric_figures(
    frame: pd.DataFrame, tables: dict[str, Any], contract: Contract, *, sample_rows: int, seed: int
) -> list[PageFigure]:
    """Distributions (one numeric feature or more), correlations (two numeric columns or
    more) and the projection (two numeric features or more)."""
    import numpy as np

    target = contract.target
    numeric = list(contract.numeric_features)
    page = []
    if numeric:
        separation = separation_summary(tables[f"{target}_separation"], contract)
        page.append(
            PageFigure(
                "feature_distributions",
                f"Per-{target} distributions of the numeric features; {separation}",
                figures.distributions_figure(frame, numeric, contract),
            )
        )
    correlated = correlation_columns(frame, contract)
    if len(correlated) >= 2:
        correlation = frame[correlated].corr(method="spearman")
        page.append(
            PageFigure(
                "correlations",
                correlation_caption(correlation),
                figures.correlation_figure(correlation),
            )
        )
    if len(numeric) >= 2:
        points, explained = figures.principal_components(frame, numeric)
        labels = frame[target].astype("str").to_numpy(dtype=object)
        rng = np.random.default_rng(seed)
        shown = rng.choice(len(points), size=min(sample_rows, len(points)), replace=False)
        page.append(
            PageFigure(
                "projection",
                projection_caption(points, explained, labels, contract),
                figures.projection_figure(points, explained, labels, shown, contract),
            )
        )
    return page


def group_description(frame: pd.DataFrame, contract: Contract) -> str | None:
    """What makes rows one entity, for the page (None without groups)."""
    groups = contract.groups
    if groups is None:
        return None
    if groups.id_column is not None and groups.id_column in frame.columns:
        what = f"its {groups.id_column}"
    elif len(groups.columns) <= 3:
        what = f"its values of {', '.join(groups.columns)}"
    else:
        what = f"its values of the {len(groups.columns)} columns of the contract's groups"
    return (
        f"A {groups.name} is {what}; the table can hold several copies of one {groups.name}, "
        f"sometimes under another {contract.target}. Splits keep every copy of a "
        f"{groups.name} on one side."
    )


def page_html(
    page: list[PageFigure],
    frame: pd.DataFrame,
    tables: dict[str, Any],
    contract: Contract,
    image_dir: Path,
) -> str:
    """One self-contained page (eda.html.j2, beside this module): every PNG embedded, so it opens
    offline from anywhere."""
    from jinja2 import Environment, FileSystemLoader
    from markupsafe import Markup

    columns = numeric_inputs(frame, contract) or list(contract.categorical_features)
    # pandas escapes its own HTML of the numbers and column names.
    summary = (
        frame[columns].describe().T.to_html(float_format=lambda value: f"{value:.4g}", border=0)
        if columns
        else ""
    )
    conflicts = tables.get("label_conflicts")
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        keep_trailing_newline=True,
    )
    return environment.get_template(TEMPLATE).render(
        name=contract.name.capitalize(),
        table=contract.name,
        target=contract.target,
        entity=contract.groups.name if contract.groups else None,
        groups=group_description(frame, contract),
        summary_table=Markup(summary),  # nosec B704
        separation=tables[f"{contract.target}_separation"],
        separation_summary=separation_summary(tables[f"{contract.target}_separation"], contract),
        conflicts=[(name.replace("_", " "), f"{value:.4g}") for name, value in conflicts.items()]
        if conflicts is not None
        else None,
        figures=[
            {
                "name": item.name,
                "caption": item.caption,
                "data": base64.b64encode((image_dir / f"{item.name}.png").read_bytes()).decode(),
            }
            for item in page
        ],
    )


def eda_tables(frame: pd.DataFrame, raw: pd.DataFrame, contract: Contract) -> dict[str, Any]:
    """The tables written under data/: class counts, missing values, class separation and,
    with groups, the label conflicts."""
    from music_genre.data.tracks import label_conflicts

    raw_missing = {column: float(raw[column].isna().mean()) for column in raw.columns}
    tables: dict[str, Any] = {
        f"{contract.target}_counts": class_counts(frame, contract),
        "missing_values": missing_values(raw_missing),
        f"{contract.target}_separation": class_separation(frame, contract),
    }
    if contract.groups is not None:
        tables["label_conflicts"] = label_conflicts(frame, contract)
    return tables


def run_eda(
    prepared_path: str,
    raw_path: str,
    output_dir: str,
    sample_rows: int,
    seed: int,
    *,
    contract: Contract,
) -> dict[str, Any]:
    """The stage: the tables under data/, the figures under images/ and the EDA page."""
    from music_genre.core.fileio import read_parquet

    frame = read_parquet(prepared_path, columns=[*contract.raw_columns])
    # Read like every other table, so a bad file gets the same one-line error.
    raw = read_parquet(raw_path, columns=[contract.target])
    out = Path(output_dir)
    tables = eda_tables(frame, raw, contract)
    for name, table in tables.items():
        write_json(table, out / "data" / f"{name}.json")
    page = page_figures(frame, raw, tables, contract, sample_rows=sample_rows, seed=seed)
    for item in page:
        figures.save_png(item.figure, out / "images" / f"{item.name}.png")
    html = page_html(page, frame, tables, contract, out / "images")
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("EDA of %d %s written to %s", len(frame), contract.name, out)
    return {
        "counts": tables[f"{contract.target}_counts"],
        "separation": tables[f"{contract.target}_separation"],
        "conflicts": tables.get("label_conflicts"),
    }
