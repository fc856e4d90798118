"""Dask training benchmark: the train stage with train.backend dask on a real cluster (a
`dask scheduler` and two single-threaded `dask worker` processes with a memory limit), side
by side with the local backend, in one run.

    python benchmarks/dask_train.py [--sizes 4,16,64] [--rounds 100] [--limit 1536MiB]
        [--real-split data/split] [--output benchmarks/results/dask_train.json]

- Scale: synthetic train splits of k x the songs train split's rows (29,453), each trained on
  the two workers with `dask.boosting_rounds` fixed (so time follows rows, not the rounds early
  stopping would pick): wall time of the stage, its phases (from its log), each worker's peak
  memory (Linux VmHWM; a fresh cluster for every run) against its limit, the stage process's.
- At 16 x (the goal's size) and 64 x: the local backend with 2 threads (`train.n_threads: 2`,
  the same rounds, no early stopping) against Dask on the 2 one-thread workers: time and peak
  memory.
- Real data (the committed train/test split, --real-split): both backends with the committed
  params (the Dask backend picks its rounds by early stopping on its sample, here the whole
  split), then the evaluate stage: test roc_auc of each.
Every number is measured in this run; a size that fails or times out is recorded as such.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from common import dask_processes, stop

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SONGS_TRAIN_ROWS = 29_453
ROW_GROUP = 100_000
WORKER_ENV = {"MALLOC_TRIM_THRESHOLD_": "65536"}
PHASES = {
    "split": "held out for validation, in",
    "statistics_and_deal": "fitting lightgbm on",
    # LightGBM's fit, with every round's losses on each worker's fit and validation rows.
    "lightgbm_fit": "fitted; validation probabilities",
    "validation_scores": "music_genre.pipeline.train: validation:",
}


def copy_project(target: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes((ROOT / name).read_bytes())
    return target


def synthetic_split(path: Path, rows: int, seed: int) -> int:
    """A prepared synthetic train split of exactly `rows` rows; returns the in-memory size
    of the columns training reads."""
    import pandas as pd

    from music_genre.data.contract import load_contract
    from music_genre.data.synthetic import generate, load_spec
    from music_genre.pipeline.preprocess import preprocess

    contract = load_contract(ROOT / "contract.yaml")
    spec = load_spec(ROOT / "data" / "synthetic_spec.json")
    parts, have = [], 0
    while have < rows:
        part = preprocess(
            generate(rows - have + rows // 50 + 100, seed + len(parts), contract, spec), contract
        )
        parts.append(part)
        have += len(part)
    frame = pd.concat(parts, ignore_index=True).head(rows)
    frame.to_parquet(path, index=False, row_group_size=ROW_GROUP)
    read = [
        *contract.model_input_columns,
        *(contract.groups.columns if contract.groups else ()),
        contract.target,
    ]
    return int(frame[list(dict.fromkeys(read))].memory_usage(deep=True).sum())


def set_params(project: Path, updates: dict[str, Any], base: str) -> None:
    from music_genre.core.params import set_dotted

    params = yaml.safe_load(base)
    for key, value in updates.items():
        set_dotted(params, key, value)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


class Cluster:
    """A `dask scheduler` and two `dask worker --nthreads 1 --memory-limit LIMIT` processes."""

    def __init__(self, root: Path, limit: str) -> None:
        self.address, processes = dask_processes(
            root,
            2,
            ["--no-nanny", "--memory-limit", limit],
            WORKER_ENV,
            stdout=subprocess.DEVNULL,
        )
        self.scheduler, self.workers = processes[0], processes[1:]
        from dask.distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            self.limit_bytes = int(
                next(iter(client.scheduler_info(n_workers=-1)["workers"].values()))["memory_limit"]
            )

    def peaks(self) -> list[int]:
        return [peak_memory(worker.pid) for worker in self.workers]

    def close(self) -> None:
        stop([*self.workers, self.scheduler])


def peak_memory(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, flags=re.M).group(1)) * 1024


def run_stage(
    project: Path, script: list[str], env: dict[str, str], timeout: float
) -> dict[str, Any]:
    """A stage script under GNU time: wall seconds, peak memory, its log's phase times."""
    report = project / "time.txt"
    started, clock = time.time(), time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(report), sys.executable, *script],
        cwd=project,
        env={**os.environ, "MUSIC_GENRE_LOG_LEVEL": "INFO", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - clock
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1:]
        raise RuntimeError(f"{' '.join(script)} exited {result.returncode}: {last}")
    return {
        "seconds": round(seconds, 2),
        "peak_bytes": int(report.read_text().split()[-1]) * 1024,
        "phases_s": phases(result.stderr, started),
    }


def _stamp(line: str) -> float | None:
    """The epoch time of a log line of the stage ("2026-12-01 12:56:56,844 INFO ...")."""
    if not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", line):
        return None
    return time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000


def phases(log: str, started: float) -> dict[str, float]:
    """Seconds of each phase of the Dask backend, from the start to the log line ending it
    (the first phase includes the interpreter's start and the imports)."""
    found, previous = {}, started
    for name, marker in PHASES.items():
        stamp = next((_stamp(line) for line in log.splitlines() if marker in line), None)
        if stamp is not None:
            found[name] = round(stamp - previous, 2)
            previous = stamp
    return found


TRAIN = ["stages/train.py", "split/train.parquet", "out/model.joblib", "out/metrics", "out/plots"]


def train_once(
    project: Path, updates: dict[str, Any], base: str, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    set_params(project, updates, base)
    measured = run_stage(project, TRAIN, env, timeout)
    card = json.loads((project / "out" / "model.json").read_text())
    measured.update(
        rounds=card["boosting_rounds"],
        fit_rows=card["training_data"]["fit_rows"],
        validation_roc_auc=card["validation_metrics"]["roc_auc"],
    )
    return measured


def mib(value: int) -> int:
    """Bytes as whole MiB (what the docs show)."""
    return round(value / 2**20)


def with_mib(found: dict[str, Any]) -> dict[str, Any]:
    """`found` with every *_bytes entry also in MiB (*_mib)."""
    extra = {}
    for key, value in found.items():
        if key.endswith("_bytes"):
            name = key.removesuffix("_bytes") + "_mib"
            extra[name] = [mib(v) for v in value] if isinstance(value, list) else mib(value)
    return {**found, **extra}


# What a worker's tasks import (the modules, scikit-learn, LightGBM), run there by exec (a
# builtin, so the function itself needs nothing on the worker).
TRAINING_IMPORTS = "import music_genre.modeling.shares, music_genre.modeling.dask_booster, lightgbm"


def worker_baseline(work: Path, limit: str) -> dict[str, Any]:
    """A fresh worker's resident memory, bare and once it has imported what tasks use."""
    from dask.distributed import Client

    cluster = Cluster(work, limit)
    try:
        bare = [resident_memory(worker.pid) for worker in cluster.workers]
        with Client(cluster.address, timeout="60s") as client:
            client.run(exec, TRAINING_IMPORTS)
        imported = [resident_memory(worker.pid) for worker in cluster.workers]
        return with_mib({"bare_bytes": max(bare), "after_imports_bytes": max(imported)})
    finally:
        cluster.close()


def resident_memory(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, flags=re.M).group(1)) * 1024


def dask_run(
    project: Path, updates: dict[str, Any], settings: dict[str, Any], *, base: str
) -> dict[str, Any]:
    """One train stage with the Dask backend on a fresh cluster (so each worker's peak is
    this run's, with nothing left over from an earlier one)."""
    cluster = Cluster(settings["work"], settings["limit"])
    try:
        env = {"DASK_SCHEDULER_ADDRESS": cluster.address}
        found = train_once(
            project, {**updates, "train.backend": "dask"}, base, env, settings["timeout"]
        )
        found["worker_peak_bytes"] = cluster.peaks()
        found["worker_limit_bytes"] = cluster.limit_bytes
        found["worker_peak_under_limit"] = max(found["worker_peak_bytes"]) < cluster.limit_bytes
        return with_mib(found)
    finally:
        cluster.close()


def scale(
    project: Path, sizes: list[int], settings: dict[str, Any], *, base: str
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    fixed = {"dask.boosting_rounds": settings["rounds"], "train.lightgbm.early_stopping_round": 0}
    for size in sizes:
        rows = size * SONGS_TRAIN_ROWS
        table = synthetic_split(project / "split" / "train.parquet", rows, seed=size)
        entry: dict[str, Any] = {"rows": rows, "table_bytes": table}
        try:
            entry.update(dask_run(project, fixed, settings, base=base))
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            entry["failed"] = str(error)[:300]
        results[f"{size}x"] = with_mib(entry)
        print(f"{size}x: {json.dumps(entry)}", flush=True)
    return results


def growth(sizes: dict[str, Any]) -> list[float]:
    times = [entry["seconds"] for entry in sizes.values() if "seconds" in entry]
    return [round(later / earlier, 3) for earlier, later in itertools.pairwise(times)]


def comparison(project: Path, size: int, settings: dict[str, Any], *, base: str) -> dict[str, Any]:
    rounds = settings["rounds"]
    synthetic_split(project / "split" / "train.parquet", size * SONGS_TRAIN_ROWS, seed=size)
    fixed = {"train.lightgbm.early_stopping_round": 0, "train.lightgbm.n_estimators": rounds}
    local = with_mib(
        train_once(project, {**fixed, "train.n_threads": 2}, base, {}, settings["timeout"])
    )
    local.pop("phases_s")  # the phases are the Dask backend's
    dask = dask_run(project, {**fixed, "dask.boosting_rounds": rounds}, settings, base=base)
    return {
        "size": f"{size}x",
        "rows": size * SONGS_TRAIN_ROWS,
        "rounds": rounds,
        "local_2_threads": local,
        "dask_2_workers_1_thread": dask,
        "time_ratio_dask_to_local": round(dask["seconds"] / local["seconds"], 3),
        "memory_ratio_worker_to_local": round(
            max(dask["worker_peak_bytes"]) / local["peak_bytes"], 3
        ),
        "goal_time_ratio_at_most": 1.3,
        "goal_memory_ratio_at_most": 0.6,
    }


def real_data(project: Path, split: Path, settings: dict[str, Any], *, base: str) -> dict[str, Any]:
    for name in ("train", "test"):
        (project / "split" / f"{name}.parquet").write_bytes(
            (split / f"{name}.parquet").read_bytes()
        )
    evaluate = [
        "stages/evaluate.py",
        "out/model.joblib",
        "split/test.parquet",
        "out/evaluate",
        "out/evaluate_plots",
    ]
    found: dict[str, Any] = {}
    for backend in ("local", "dask"):
        if backend == "local":
            measured = with_mib(train_once(project, {}, base, {}, settings["timeout"]))
            measured.pop("phases_s")  # the phases are the Dask backend's
        else:
            measured = dask_run(project, {}, settings, base=base)
        run_stage(project, evaluate, {}, settings["timeout"])
        metrics = json.loads((project / "out" / "evaluate" / "metrics.json").read_text())
        found[backend] = {
            **measured,
            "test_roc_auc": metrics["roc_auc"],
            "test_log_loss": metrics["log_loss"],
        }
    found["test_roc_auc_difference"] = round(
        abs(found["dask"]["test_roc_auc"] - found["local"]["test_roc_auc"]), 6
    )
    found["goal_difference_at_most"] = 0.002
    return found


def machine() -> dict[str, Any]:
    names = (
        re.findall(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if Path("/proc/cpuinfo").exists()
        else []
    )
    return {
        "cpu": names[0].strip() if names else platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "load_before": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,16,64", help="multiples of the songs train split")
    parser.add_argument("--rounds", type=int, default=100, help="boosting rounds of the scale runs")
    parser.add_argument("--limit", default="1536MiB", help="each worker's --memory-limit")
    parser.add_argument(
        "--compare-at", default="16,64", help="sizes of local vs Dask (the first is the goal's)"
    )
    parser.add_argument(
        "--real-split", help="a folder with train.parquet and test.parquet (the real songs)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per stage run")
    parser.add_argument("--workdir")
    parser.add_argument(
        "--output", default=str(ROOT / "benchmarks" / "results" / "dask_train.json")
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dask-train-"))
    project = copy_project(work / "project")
    (project / "split").mkdir(exist_ok=True)
    base = (project / "params.yaml").read_text()
    results: dict[str, Any] = {
        "machine": machine(),
        "setup": {
            "workers": 2,
            "threads_per_worker": 1,
            "worker_memory_limit": args.limit,
            "songs_train_rows": SONGS_TRAIN_ROWS,
            "scale_rounds": args.rounds,
            "row_group_rows": ROW_GROUP,
            "chunk_rows": yaml.safe_load(base)["dask"]["chunk_rows"],
        },
    }
    settings = {"work": work, "limit": args.limit, "rounds": args.rounds, "timeout": args.timeout}
    try:
        results["worker_baseline"] = worker_baseline(work, args.limit)
        sizes_found = scale(project, sizes, settings, base=base)
        results["scale"] = {
            "sizes": sizes_found,
            "rows_growth_per_step": 4,
            "time_growth_per_step": growth(sizes_found),
        }
        results["comparisons"] = {}
        for size in (int(size) for size in args.compare_at.split(",")):
            results["comparisons"][f"{size}x"] = comparison(project, size, settings, base=base)
            print(json.dumps(results["comparisons"][f"{size}x"]), flush=True)
        results["comparison"] = next(iter(results["comparisons"].values()))
        if args.real_split:
            results["real_data"] = real_data(project, Path(args.real_split), settings, base=base)
            print(json.dumps(results["real_data"]), flush=True)
    finally:
        results["machine"]["load_after"] = round(os.getloadavg()[0], 2)
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
