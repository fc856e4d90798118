"""What the model report compares: BASE's and the workspace's params, metrics, plots, data checks
and model card, from DVC's own diffs (`dvc params diff`, `dvc metrics diff --all`, `dvc plots diff`,
run side by side), git, and the local DVC cache."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from music_genre.core import commands, paths
from music_genre.core.errors import PipelineError
from music_genre.core.fileio import read_json

METRICS_FILES = {
    "evaluate": paths.EVALUATE_METRICS,
    "train": paths.TRAIN_METRICS,
    "split": paths.SPLIT_METRICS,
}


# dvc.yaml plot id -> the PNG file the report shows it as, and its caption ({target}: the
# contract's target; captioned_plots fills it in).
PLOTS = {
    paths.ROC_CURVES: ("roc.png", "ROC per {target} (test)"),
    paths.PRECISION_RECALL_CURVES: ("precision_recall.png", "Precision-recall"),
    paths.TEST_CONFUSION: ("confusion_matrix.png", "Confusion matrix"),
    "training_curves": ("training_curves.png", "Training curves"),
}


def captioned_plots(target: str) -> dict[str, tuple[str, str]]:
    """PLOTS with the captions of a contract whose target is `target`."""
    return {
        plot_id: (file, caption.format(target=target)) for plot_id, (file, caption) in PLOTS.items()
    }


CHECK_REPORT = paths.CHECK_REPORT


MODEL_CARD = paths.MODEL_CARD


WORKSPACE = "workspace"


def dvc_json(arguments: Sequence[str], cwd: Path) -> Any:
    """Run a dvc command with --json and parse its output; a failure is one line."""
    # Our own arguments (BASE is a checked git revision).
    result = commands.run("dvc", [*arguments, "--json"], cwd, check=True)
    return json.loads(result.stdout or "{}")


def _git(arguments: Sequence[str], cwd: Path) -> commands.Completed:
    return commands.run("git", arguments, cwd)


def resolve_base(base: str, repo: Path) -> str:
    """The commit BASE names, or a one-line error."""
    if base.startswith("-"):
        raise PipelineError(f"report: '{base}' is not a git revision")
    found = _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], repo)
    if found.returncode != 0:
        raise PipelineError(
            f"report: '{base}' is not a git revision of {repo.resolve()} "
            "(fetch it first, e.g. git fetch origin main; CI needs full history)"
        )
    return found.stdout.strip()


def _json_at(base: str, path: str, repo: Path) -> Any:
    """A git-tracked JSON file at BASE (None when BASE lacks it)."""
    shown = _git(["show", f"{base}:{path}"], repo)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def _cached_outputs_at(base: str, repo: Path) -> dict[str, Path]:
    """The DVC-cached outputs of BASE's dvc.lock: path -> where this workspace's DVC cache
    keeps its content (which may be absent)."""
    import yaml
    from dvc.repo import Repo

    shown = _git(["show", f"{base}:dvc.lock"], repo)
    lock = yaml.safe_load(shown.stdout) if shown.returncode == 0 else None
    outs = {
        out["path"]: out["md5"]
        for stage in (lock or {}).get("stages", {}).values()
        for out in stage.get("outs", [])
        if out.get("md5") and out.get("path")
    }
    if not outs:
        return {}
    with Repo(str(repo)) as dvc_repo:
        return {path: Path(dvc_repo.cache.local.oid_to_path(md5)) for path, md5 in outs.items()}


def not_in_local_cache(base: str, repo: Path) -> set[str]:
    """BASE's DVC-cached outputs whose content this workspace's cache does not have."""
    return {path for path, cached in _cached_outputs_at(base, repo).items() if not cached.is_file()}


def _card_at(base: str, repo: Path) -> dict[str, Any] | None:
    """The model card of BASE: its md5 from BASE's dvc.lock, read from this workspace's DVC
    cache, else through DVC from the remote; None when neither has it."""
    cached = _cached_outputs_at(base, repo).get(MODEL_CARD)
    if cached is None:
        return None
    if cached.is_file():
        return json.loads(cached.read_text())
    import dvc.api

    try:
        return json.loads(dvc.api.read(MODEL_CARD, rev=base, repo=str(repo)))
    except Exception:
        return None


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _check_summary(report: Any) -> dict[str, Any]:
    """What the data checks reported, flattened: rows, checks, the entities' label conflicts
    (under `<groups.name>s`, when the contract has groups) and the drifting columns; not the
    failures' examples nor the drift tests' statistics."""
    if not isinstance(report, dict):
        return {}
    keep = {key: value for key, value in report.items() if key not in ("failures", "drift")}
    drift = report.get("drift")
    if isinstance(drift, dict) and isinstance(drift.get("columns"), list):
        keep["drifting columns"] = sorted(
            str(item.get("column"))
            for item in drift["columns"]
            if isinstance(item, dict) and item.get("passed") is False
        )
    return _flatten(keep)


@dataclass
class Diffs:
    """What DVC and git say of BASE and the workspace, and the contract's target (the key of
    the per-class plot, paths.per_class_plot)."""

    target: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    plots: dict[str, Any]
    base_card: dict[str, Any] | None
    card: dict[str, Any] | None
    base_checks: dict[str, Any]
    checks: dict[str, Any]


def collect(base: str, root: Path, out: Path, target: str) -> Diffs:
    """DVC's three diffs and the base's model card, side by side in threads."""
    targets = [*PLOTS, paths.per_class_plot(target)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        params = pool.submit(dvc_json, ["params", "diff", base], root)
        metrics = pool.submit(dvc_json, ["metrics", "diff", base, "--all"], root)
        plots = pool.submit(
            dvc_json,
            ["plots", "diff", base, "--targets", *targets, "-o", str(out / ".plots")],
            root,
        )
        base_card = pool.submit(_card_at, base, root)
        return Diffs(
            target=target,
            params=params.result(),
            metrics=metrics.result(),
            plots=plots.result().get("data", {}),
            base_card=base_card.result(),
            card=read_json(root / MODEL_CARD, missing_ok=True),
            base_checks=_check_summary(_json_at(base, CHECK_REPORT, root)),
            checks=_check_summary(read_json(root / CHECK_REPORT, missing_ok=True)),
        )
