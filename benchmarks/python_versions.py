"""Bit for bit across Python versions: the committed pipeline run under another interpreter.

    python benchmarks/python_versions.py --python /path/to/python3.13 \
        [--venv DIR] [--workdir DIR] [--output benchmarks/results/python_versions.json]

Clones this repository's committed HEAD into the work directory, installs requirements.txt into
a virtual environment of the other interpreter (created at --venv, or reused when it exists),
runs `dvc repro` there on the real data (MUSIC_GENRE_DATA_MIRROR, as CI does) and compares what
it wrote with the committed outputs: every metrics and plot file git tracks (byte for byte),
every output's md5 in dvc.lock, the model card field by field, and the two models themselves
(both loaded here: their probabilities on the test split and their LightGBM trees).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {result.returncode}):\n{result.stderr}")
    return result.stdout


def _lock_outputs(lock_file: Path) -> dict[str, str]:
    lock = yaml.safe_load(lock_file.read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    if not isinstance(value, dict):
        return {prefix: value}
    return {
        k: v
        for key, item in value.items()
        for k, v in _flat(item, f"{prefix}.{key}" if prefix else str(key)).items()
    }


def _compare_models(reference: Path, other: Path, test_split: Path) -> dict[str, Any]:
    from music_genre.modeling.store import load_model

    ours, _ = load_model(reference)
    theirs, _ = load_model(other)
    test = pd.read_parquet(test_split)[list(ours.feature_names_in_)]
    boosters = [getattr(model[-1], "booster_", None) for model in (ours, theirs)]
    return {
        "bytes": [reference.stat().st_size, other.stat().st_size],
        "bytes_identical": reference.read_bytes() == other.read_bytes(),
        "test_probabilities_identical": bool(
            np.array_equal(ours.predict_proba(test), theirs.predict_proba(test))
        ),
        "trees_identical": None
        if boosters[0] is None
        else boosters[0].model_to_string() == boosters[1].model_to_string(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="the other interpreter")
    parser.add_argument("--venv", help="its virtual environment (created if missing)")
    parser.add_argument("--workdir", help="where to clone (default: a new temporary directory)")
    parser.add_argument(
        "--output", default=str(ROOT / "benchmarks" / "results" / "python_versions.json")
    )
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="music-genre-python-"))
    clone = workdir / "clone"
    _run(["git", "clone", "-q", str(ROOT), str(clone)], workdir)
    venv = Path(args.venv or workdir / "venv")
    if not (venv / "bin" / "python").exists():
        _run([args.python, "-m", "venv", str(venv)], workdir)
    bin_dir = venv / "bin"
    _run([str(bin_dir / "pip"), "install", "-q", "-r", "requirements.txt"], clone)
    version = _run(
        [str(bin_dir / "python"), "-c", "import platform; print(platform.python_version())"], clone
    ).strip()
    mirror = os.environ.get("MUSIC_GENRE_DATA_MIRROR") or str(ROOT.parent / "shared" / "data")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MUSIC_GENRE_DATA_MIRROR": mirror,
        "VIRTUAL_ENV": str(venv),
    }
    start = time.perf_counter()
    _run(["dvc", "repro", "--force"], clone, env)
    seconds = time.perf_counter() - start

    tracked = _run(["git", "ls-files", "metrics", "plots"], clone).split()
    changed_files = _run(["git", "diff", "--name-only", "--", "metrics", "plots"], clone).split()
    committed, produced = _lock_outputs(ROOT / "dvc.lock"), _lock_outputs(clone / "dvc.lock")
    card_ours = _flat(json.loads((ROOT / "models" / "model.json").read_text()))
    card_theirs = _flat(json.loads((clone / "models" / "model.json").read_text()))
    results = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.machine()},
        "reference": {"python": platform.python_version(), "source": "the committed outputs"},
        "other": {"python": version, "repro_force_s": round(seconds, 1)},
        "git_tracked_metrics_and_plots": {
            "files": len(tracked),
            "identical": len(tracked) - len(changed_files),
            "differing": changed_files,
        },
        "dvc_lock_outputs": {
            "outputs": len(committed),
            "differing": sorted(p for p in committed if produced.get(p) != committed[p]),
        },
        "model_card_fields_differing": sorted(
            key
            for key in card_ours.keys() | card_theirs.keys()
            if card_ours.get(key) != card_theirs.get(key)
        ),
        "model": _compare_models(
            ROOT / "models" / "model.joblib",
            clone / "models" / "model.joblib",
            ROOT / "data" / "split" / "test.parquet",
        ),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
