"""Pipeline benchmark: DVC overhead against the bare computation, re-run costs, threads, scale.

    python benchmarks/pipeline.py            # real data when MUSIC_GENRE_DATA_MIRROR has it
    python benchmarks/pipeline.py --quick    # a tiny synthetic table, one repeat (smoke test)

Everything runs in a temporary git copy of this project. Each comparison is measured side by side
in this one run (medians of --repeats runs; the machines are shared and noisy, so read the
ratios). Writes benchmarks/results/pipeline.json and .md and prints the table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BARE = Path(__file__).with_name("bare_pipeline.py")
REAL_ROWS = 42_896
KIB = 1024
# --quick (the smoke test): a small forest instead of the committed model, so it takes seconds.
QUICK_PARAMS = {
    "train": {"model": "random_forest", "random_forest": {"n_estimators": 10}},
    "tfidf": {"max_features": 10},
}


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in GiB of it and its children)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {process.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * KIB / 2**30


def median_of(repeats: int, action) -> tuple[float, float]:
    results = [action() for _ in range(repeats)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


class Workspace:
    """A git copy of the project with its own empty DVC cache."""

    def __init__(self, root: Path, data: dict[str, Any], extra: dict[str, Any]) -> None:
        self.root = root
        files = (
            subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
            .stdout.decode()
            .split("\0")
        )
        for name in filter(None, files):
            if (ROOT / name).is_file():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, root / name)
        self.update_params({"data": data, **extra})
        for command in (
            ["git", "init", "-q"],
            ["git", "add", "-A"],
            [
                "git",
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@invalid",
                "commit",
                "-qm",
                "benchmark copy",
            ],
        ):
            subprocess.run(command, cwd=root, check=True, capture_output=True)

    def update_params(self, updates: dict[str, Any]) -> None:
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        _merge(params, updates)
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    def clean(self) -> None:
        """Empty cache and no outputs: the next dvc repro starts from nothing."""
        for path in (
            ".dvc/cache",
            ".dvc/tmp/runs",
            "data/raw",
            "data/prepared",
            "data/split",
            "models",
            "plots",
            "metrics",
        ):
            shutil.rmtree(self.root / path, ignore_errors=True)
        subprocess.run(
            ["git", "checkout", "--", "metrics", "plots"],
            cwd=self.root,
            capture_output=True,
            check=False,
        )

    def repro(self) -> tuple[float, float]:
        return timed(["dvc", "repro", "--no-run-cache"], self.root)


def _merge(target: dict, updates: dict) -> None:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def data_source(quick: bool) -> tuple[dict[str, Any], str]:
    from music_genre.get_data import MIRROR_ENV, find_in_mirrors

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["data"]
    mirrors = [Path(p) for p in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if p]
    if not quick and find_in_mirrors(params["sha256"], mirrors):
        return {"source": params["source"], "sha256": params["sha256"]}, "real"
    rows = 3000 if quick else REAL_ROWS
    return {"source": "synthetic", "sha256": None, "synthetic_rows": rows}, "synthetic"


def measure_overhead(ws: Workspace, repeats: int) -> dict[str, Any]:
    def full() -> tuple[float, float]:
        ws.clean()
        return ws.repro()

    def bare() -> tuple[float, float]:
        return timed(
            [sys.executable, str(BARE), str(ws.root / "params.yaml"), str(ws.root / "bare-out")],
            ws.root,
        )

    full_s, full_gib = median_of(repeats, full)
    bare_s, bare_gib = median_of(repeats, bare)
    noop_s, _ = median_of(repeats, ws.repro)
    params = yaml.safe_load((ws.root / "params.yaml").read_text())
    model = params["train"]["model"]
    # A knob of the selected estimator, set to a new value on each repeat.
    knob = {"random_forest": ("max_depth", 8), "hist_gradient_boosting": ("l2_regularization", 1.5)}
    name, start = knob[model]
    changes = []
    for step in range(repeats):
        ws.update_params({"train": {model: {name: start + step}}})
        changes.append(ws.repro())
    change_s = statistics.median(c[0] for c in changes)
    return {
        "full_repro_s": full_s,
        "full_repro_peak_gib": full_gib,
        "bare_s": bare_s,
        "bare_peak_gib": bare_gib,
        "overhead_ratio": full_s / bare_s,
        "noop_repro_s": noop_s,
        "train_param_change_s": change_s,
        "train_param_change_share_of_full": change_s / full_s,
    }


def measure_stages(ws: Workspace) -> dict[str, Any]:
    """Each stage's command on its own: wall time and peak memory."""
    spec = yaml.safe_load((ws.root / "dvc.yaml").read_text())["stages"]
    result = {}
    for name, stage in spec.items():
        seconds, gib = timed(["bash", "-c", " ".join(stage["cmd"].split())], ws.root)
        result[name] = {"seconds": seconds, "peak_gib": gib}
    return result


def measure_threads(ws: Workspace, repeats: int) -> dict[str, Any]:
    spec = yaml.safe_load((ws.root / "dvc.yaml").read_text())["stages"]["train"]
    command = ["bash", "-c", " ".join(spec["cmd"].split())]
    result = {}
    for threads in (1, 0):
        ws.update_params({"train": {"n_threads": threads}})
        seconds, _ = median_of(repeats, lambda: timed(command, ws.root))
        result["train_1_thread_s" if threads == 1 else "train_all_cores_s"] = seconds
    ws.update_params({"train": {"n_threads": 1}})
    result["cores"] = len(os.sched_getaffinity(0))
    result["all_cores_speedup"] = result["train_1_thread_s"] / result["train_all_cores_s"]
    return result


def measure_scale(
    root: Path, base_rows: int, factors: list[int], extra: dict[str, Any]
) -> dict[str, Any]:
    sizes = {}
    for factor in factors:
        rows = base_rows * factor
        ws = Workspace(
            root / f"scale-{factor}",
            {"source": "synthetic", "sha256": None, "synthetic_rows": rows},
            extra,
        )
        seconds, gib = ws.repro()
        sizes[f"{factor}x"] = {"rows": rows, "seconds": seconds, "peak_gib": gib}
    steps = [
        sizes[f"{b}x"]["seconds"] / sizes[f"{a}x"]["seconds"]
        for a, b in itertools.pairwise(factors)
    ]
    return {"sizes": sizes, "time_growth_per_step": steps}


def table(results: dict[str, Any]) -> str:
    lines = ["| measure | value |", "|---|---|"]
    for section in ("overhead", "threads"):
        for name, value in results[section].items():
            lines.append(f"| {section}.{name} | {value:.3g} |")
    for name, stage in results["stages"].items():
        lines.append(f"| stage {name} | {stage['seconds']:.2f} s, {stage['peak_gib']:.2f} GiB |")
    for name, size in results["scale"]["sizes"].items():
        lines.append(
            f"| scale {name} ({size['rows']:,} rows) | {size['seconds']:.1f} s, "
            f"{size['peak_gib']:.2f} GiB |"
        )
    growth = ", ".join(f"{step:.2f}x" for step in results["scale"]["time_growth_per_step"])
    lines.append(f"| scale time growth per {results['scale_step']}x rows | {growth} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny synthetic table, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "pipeline"))
    parser.add_argument("--workdir", help="keep the temporary copies here")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    import tempfile

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        data, kind = data_source(args.quick)
        extra = QUICK_PARAMS if args.quick else {}
        ws = Workspace(Path(tmp) / "main", data, extra)
        base_rows = 1000 if args.quick else REAL_ROWS
        factor = 2 if args.quick else 4
        factors = [1, factor] if args.quick else [1, factor, factor * factor]
        results: dict[str, Any] = {
            "machine": {
                "python": platform.python_version(),
                "cores": len(os.sched_getaffinity(0)),
                "processor": platform.machine(),
            },
            "data": kind,
            "repeats": repeats,
            "scale_step": factor,
        }
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        # Saved after every phase, so a long or interrupted run keeps what it measured.
        for name, measure in (
            ("overhead", lambda: measure_overhead(ws, repeats)),
            ("stages", lambda: measure_stages(ws)),
            ("threads", lambda: measure_threads(ws, repeats)),
            ("scale", lambda: measure_scale(Path(tmp), base_rows, factors, extra)),
        ):
            results[name] = measure()
            output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    rendered = table(results)
    output.with_suffix(".md").write_text(rendered + "\n")
    print(rendered)


if __name__ == "__main__":
    main()
