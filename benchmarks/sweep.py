"""Sweep benchmark: 8 experiments on 2 Dask workers vs `dvc exp run --run-all -j 2`, one machine.

    python benchmarks/sweep.py [--rows 20000] [--output benchmarks/results/sweep.json]

Builds a copy of this project (git-tracked files) on the synthetic source, runs the pipeline,
pushes it to a bare git remote and a local DVC remote, then, side by side in this one run:
- DVC's queue: a clone with every output pulled, `dvc exp run --queue -S <grid>`, then the
  timed `dvc exp run --run-all -j 2` (experiments stay in that workspace);
- Dask: a `dask scheduler` and two `dask worker` processes (started before the clock), then the
  timed `music-genre sweep -S <grid>` from a fresh clone: each task clones, pulls, runs, pushes,
  and the coordinator pulls every experiment back and prints the comparison.
Per-experiment overheads of the Dask side (clone, pull, push) are medians over the 8 tasks.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import dask_processes, stop

ROOT = Path(__file__).resolve().parents[1]
GRID = ["train.lightgbm.num_leaves=7,15,31,63", "train.lightgbm.learning_rate=0.1,0.2"]
BIN = Path(sys.executable).parent


IDENTITY = {
    "GIT_AUTHOR_NAME": "benchmark",
    "GIT_AUTHOR_EMAIL": "benchmark@example.invalid",
    "GIT_COMMITTER_NAME": "benchmark",
    "GIT_COMMITTER_EMAIL": "benchmark@example.invalid",
}


def sh(args: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        **IDENTITY,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def project(root: Path, rows: int) -> tuple[Path, Path]:
    source = root / "source"
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    params = yaml.safe_load((source / "params.yaml").read_text())
    params["data"].update(source="synthetic", sha256=None, synthetic_rows=rows)
    (source / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    remote = root / "remote.git"
    sh(["git", "init", "-q", "-b", "main"], source)
    sh(["git", "init", "-q", "--bare", str(remote)], root)
    sh(["git", "symbolic-ref", "HEAD", "refs/heads/main"], remote)
    sh(["dvc", "remote", "add", "-f", "-d", "team", str(root / "dvc-store")], source)
    sh(["git", "add", "-A"], source)
    sh(["git", "commit", "-qm", "copy of the project"], source)  # dvclive needs a commit
    sh(["dvc", "repro"], source)
    sh(["git", "add", "-A"], source)
    sh(["git", "commit", "-qm", "benchmark baseline"], source)
    sh(["git", "remote", "add", "origin", str(remote)], source)
    sh(["git", "push", "-q", "origin", "main"], source)
    sh(["dvc", "push", "-q"], source)
    return source, remote


def queue_side(root: Path, remote: Path) -> float:
    clone = root / "queue"
    sh(["git", "clone", "-q", str(remote), str(clone)], root)
    sh(["dvc", "pull", "-q"], clone)
    sh(["dvc", "exp", "run", "--queue", *[a for p in GRID for a in ("-S", p)]], clone)
    start = time.perf_counter()
    sh(["dvc", "exp", "run", "--run-all", "-j", "2"], clone)
    elapsed = time.perf_counter() - start
    finished = sh(["dvc", "exp", "list", "--name-only"], clone).split()
    if len(finished) != 8:
        raise SystemExit(f"the queue finished {len(finished)} experiments, not 8")
    return elapsed


def dask_side(root: Path, remote: Path) -> tuple[float, list[dict]]:
    from dask.distributed import Client

    from music_genre.experiments.sweep import sweep

    clone = root / "dask"
    sh(["git", "clone", "-q", str(remote), str(clone)], root)
    address, processes = dask_processes(root, 2)
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        out = io.StringIO()
        start = time.perf_counter()
        os.environ.update(IDENTITY)
        outcome = sweep([*GRID], repo=clone, scheduler=address, out=out)
        elapsed = time.perf_counter() - start
    finally:
        stop(processes)
    if outcome.failed or len(outcome.finished) != 8:
        raise SystemExit(f"the sweep did not finish 8 experiments:\n{out.getvalue()}")
    return elapsed, outcome.finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic rows")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="music-genre-sweep-bench-") as tmp:
        root = Path(tmp)
        _, remote = project(root, args.rows)
        queue_s = queue_side(root, remote)
        dask_s, finished = dask_side(root, remote)

    def median(step: str) -> float:
        return statistics.median(result["seconds"].get(step, 0.0) for result in finished)

    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": len(os.sched_getaffinity(0)),
            "processor": platform.machine(),
        },
        "setup": {"experiments": 8, "workers": 2, "grid": GRID, "synthetic_rows": args.rows},
        "queue_run_all_j2_s": queue_s,
        "dask_sweep_s": dask_s,
        "ratio_dask_to_queue": dask_s / queue_s,
        "goal_ratio_at_most": 1.2,
        "per_experiment_median_s": {
            step: median(step) for step in ("clone", "pull", "run", "push")
        },
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
