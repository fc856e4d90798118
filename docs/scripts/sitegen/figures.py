"""The site's figures, drawn at build time from plots/ and benchmarks/results/ (matplotlib, PNG),
or copied from the images the pipeline and the tuner wrote."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sitegen.sources import ROOT, lookup


@cache
def target() -> str:
    """The contract's target column: the per-class plots are keyed by it."""
    from music_genre.data.contract import load_contract

    return load_contract(ROOT / "contract.yaml").target


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(draw: Callable[[Any], None], size: tuple[float, float] = (7.5, 4.6)) -> bytes:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=size, dpi=110)
    draw(axes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _read_json(relative: str) -> Any:
    return json.loads((ROOT / relative).read_text(encoding="utf-8"))


def _curves(relative: str, x: str, y: str, xlabel: str, ylabel: str) -> bytes:
    rows = _read_json(relative)
    by_class: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        by_class[str(row[target()])].append((row[x], row[y]))

    def draw(axes: Any) -> None:
        for label, points in sorted(by_class.items()):
            axes.plot(*zip(*points, strict=True), label=label, linewidth=1.2)
        axes.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.02))
        axes.legend(fontsize=7, ncol=2, loc="lower right" if x == "fpr" else "lower left")
        axes.grid(alpha=0.3)

    return _png(draw, (7.5, 5.2))


def roc() -> bytes:
    return _curves(
        "plots/evaluate/custom/roc.json", "fpr", "tpr", "False positive rate", "True positive rate"
    )


def precision_recall() -> bytes:
    return _curves(
        "plots/evaluate/custom/precision_recall.json", "recall", "precision", "Recall", "Precision"
    )


def _tsv(relative: str) -> list[tuple[int, float]]:
    with (ROOT / relative).open(encoding="utf-8") as handle:
        return [
            (int(row["step"]), float(row["multi_logloss"]))
            for row in csv.DictReader(handle, delimiter="\t")
        ]


def training_curves() -> bytes:
    def draw(axes: Any) -> None:
        for part in ("training", "validation"):
            points = _tsv(f"plots/train/metrics/{part}/multi_logloss.tsv")
            axes.plot(*zip(*points, strict=True), label=f"{part} part")
        rounds = lookup("train", "boosting_rounds")
        axes.axvline(rounds, color="grey", linestyle="--", label=f"kept: {rounds} rounds")
        axes.set(xlabel="Boosting round", ylabel="Log loss")
        axes.legend()
        axes.grid(alpha=0.3)

    return _png(draw)


def _bars(labels: list[str], values: list[float], xlabel: str) -> bytes:
    def draw(axes: Any) -> None:
        axes.barh(labels[::-1], values[::-1], color="#3f51b5")
        axes.set(xlabel=xlabel)
        axes.grid(axis="x", alpha=0.3)

    return _png(draw, (7.5, 0.9 + 0.3 * len(labels)))


def per_class_f1() -> bytes:
    rows = sorted(
        _read_json(f"plots/evaluate/custom/per_{target()}.json"), key=lambda row: -row["f1"]
    )
    return _bars([str(row[target()]) for row in rows], [row["f1"] for row in rows], "test F1")


def feature_importance() -> bytes:
    rows = _read_json("plots/evaluate/custom/feature_importance.json")
    return _bars(
        [row["feature"] for row in rows], [row["importance"] for row in rows], "importance"
    )


def serving_latency() -> bytes:
    runs = {
        "default (2 workers)": "rest",
        "1 worker": "rest_one_worker",
        "monitoring off": "monitoring.off",
        "monitoring on": "monitoring.on",
    }

    def draw(axes: Any) -> None:
        names = list(runs)
        p50 = [lookup("serving", f"{key}.single_song_latency_p50_ms") for key in runs.values()]
        p99 = [lookup("serving", f"{key}.single_song_latency_p99_ms") for key in runs.values()]
        positions = range(len(names))
        axes.bar([p - 0.2 for p in positions], p50, width=0.4, label="p50", color="#3f51b5")
        axes.bar([p + 0.2 for p in positions], p99, width=0.4, label="p99", color="#ff7043")
        axes.set_xticks(list(positions), names)
        axes.set(ylabel="single-song latency, ms")
        axes.legend()
        axes.grid(axis="y", alpha=0.3)

    return _png(draw, (7.5, 3.8))


# Site path -> how to make it. A `Path` is copied (it must exist); a callable is drawn.
DRAWN: dict[str, Callable[[], bytes]] = {
    "roc.png": roc,
    "precision_recall.png": precision_recall,
    "training_curves.png": training_curves,
    "per_class_f1.png": per_class_f1,
    "feature_importance.png": feature_importance,
    "serving_latency.png": serving_latency,
}
# Images the pipeline (DVC cache: present after `dvc repro` or `dvc pull`) and the tuner wrote.
COPIED: dict[str, str] = {
    "confusion_matrix.png": "plots/evaluate/images/confusion_matrix.png",
    "tune_history.png": "plots/tune/{study}/history.png",
    "tune_importance.png": "plots/tune/{study}/importance.png",
    "tune_front.png": "plots/tune/{study}/front.png",
}
EDA_IMAGES = ROOT / "plots" / "eda" / "images"


def eda_images() -> list[str]:
    """The EDA stage's images in this workspace (DVC outputs), by name."""
    return sorted(path.stem for path in EDA_IMAGES.glob("*.png"))


def copied_source(name: str) -> Path:
    study = lookup("params", "tune.study")
    return ROOT / COPIED[name].format(study=study)


def missing(relative: str) -> bytes:
    """A stand-in that says which output is missing and how to get it."""

    def draw(axes: Any) -> None:
        axes.axis("off")
        axes.text(
            0.5,
            0.5,
            f"{relative}\nis not in this workspace:\nrun `dvc repro` or `dvc pull`, then build",
            ha="center",
            va="center",
            fontsize=12,
        )

    return _png(draw, (7.5, 2.0))


def figures() -> dict[str, bytes]:
    """Every figure by its file name (a stand-in for a copied image this workspace lacks)."""
    made = {name: draw() for name, draw in DRAWN.items()}
    for name in COPIED:
        source = copied_source(name)
        made[name] = (
            source.read_bytes() if source.is_file() else missing(str(source.relative_to(ROOT)))
        )
    for name in eda_images():
        made[f"eda/{name}.png"] = (EDA_IMAGES / f"{name}.png").read_bytes()
    return made
