"""Dask training benchmark: the train stage with train.backend dask on a real cluster (a
`dask scheduler` and two single-threaded `dask worker` processes with a memory limit), side
by side with the local backend, in one run.

    python benchmarks/dask_train.py [--sizes 4,16,64] [--rounds 100] [--limit 1536MiB]
        [--real-split data/split] [--output benchmarks/results/dask_train.json]

- Scale: synthetic train splits of k x the songs train split's rows (29,453), each trained on
  the two workers with `dask.boosting_rounds` fixed (so time follows rows, not the rounds early
  stopping would pick): wall time of the stage, its phases (from its log), each worker's peak
  memory (Linux VmHWM, reset before each run) against its limit, the stage process's peak.
- At the middle size: the local backend with 2 threads (`train.n_threads: 2`, the same rounds,
  no early stopping) against Dask on the 2 one-thread workers: time and peak memory.
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
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SONGS_TRAIN_ROWS = 29_453
ROW_GROUP = 100_000
WORKER_ENV = {"MALLOC_TRIM_THRESHOLD_": "65536"}
PHASES = {
    "split": "held out for validation, in",
    "statistics_and_deal": "fitting lightgbm on",
    "lightgbm_fit": "fitted; validation probabilities",
    "curves_and_scores": "music_genre.pipeline.train: validation:",
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A `dask scheduler` and two `dask worker --nthreads 1 --memory-limit LIMIT` processes."""

    def __init__(self, root: Path, limit: str) -> None:
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.scheduler = subprocess.Popen(
            [
                BIN / "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            **quiet,
        )
        self.workers = [
            subprocess.Popen(
                [
                    BIN / "dask",
                    "worker",
                    self.address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--memory-limit",
                    limit,
                    "--host",
                    "127.0.0.1",
                    "--local-directory",
                    str(root / f"worker{index}"),
                ],
                env={**os.environ, **WORKER_ENV},
                **quiet,
            )
            for index in range(2)
        ]
        from dask.distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            self.limit_bytes = int(
                next(iter(client.scheduler_info(n_workers=-1)["workers"].values()))["memory_limit"]
            )

    def reset_peaks(self) -> None:
        for worker in self.workers:
            Path(f"/proc/{worker.pid}/clear_refs").write_text("5")

    def peaks(self) -> list[int]:
        return [peak_memory(worker.pid) for worker in self.workers]

    def close(self) -> None:
        for process in (*self.workers, self.scheduler):
            process.terminate()
        for process in (*self.workers, self.scheduler):
            process.wait(timeout=30)


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


def scale(
    project: Path, cluster: Cluster, sizes: list[int], rounds: int, *, base: str, timeout: float
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    dask = {
        "train.backend": "dask",
        "dask.boosting_rounds": rounds,
        "train.lightgbm.early_stopping_round": 0,
    }
    for size in sizes:
        rows = size * SONGS_TRAIN_ROWS
        table = synthetic_split(project / "split" / "train.parquet", rows, seed=size)
        entry: dict[str, Any] = {
            "rows": rows,
            "table_bytes": table,
            "worker_limit_bytes": cluster.limit_bytes,
        }
        cluster.reset_peaks()
        try:
            entry.update(
                train_once(
                    project, dask, base, {"DASK_SCHEDULER_ADDRESS": cluster.address}, timeout
                )
            )
            entry["worker_peak_bytes"] = cluster.peaks()
            entry["worker_peak_under_limit"] = max(entry["worker_peak_bytes"]) < cluster.limit_bytes
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            entry["failed"] = str(error)[:300]
        results[f"{size}x"] = entry
        print(f"{size}x: {json.dumps(entry)}", flush=True)
    return results


def growth(sizes: dict[str, Any]) -> list[float]:
    times = [entry["seconds"] for entry in sizes.values() if "seconds" in entry]
    return [round(later / earlier, 3) for earlier, later in itertools.pairwise(times)]


def comparison(
    project: Path, cluster: Cluster, size: int, rounds: int, *, base: str, timeout: float
) -> dict[str, Any]:
    synthetic_split(project / "split" / "train.parquet", size * SONGS_TRAIN_ROWS, seed=size)
    fixed = {"train.lightgbm.early_stopping_round": 0, "train.lightgbm.n_estimators": rounds}
    local = train_once(project, {**fixed, "train.n_threads": 2}, base, {}, timeout)
    local.pop("phases_s")  # the phases are the Dask backend's
    cluster.reset_peaks()
    dask = train_once(
        project,
        {**fixed, "train.backend": "dask", "dask.boosting_rounds": rounds},
        base,
        {"DASK_SCHEDULER_ADDRESS": cluster.address},
        timeout,
    )
    dask["worker_peak_bytes"] = cluster.peaks()
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


def real_data(
    project: Path, cluster: Cluster, split: Path, base: str, timeout: float
) -> dict[str, Any]:
    for name in ("train", "test"):
        (project / "split" / f"{name}.parquet").write_bytes(
            (split / f"{name}.parquet").read_bytes()
        )
    found: dict[str, Any] = {}
    for backend, env in (("local", {}), ("dask", {"DASK_SCHEDULER_ADDRESS": cluster.address})):
        measured = train_once(project, {"train.backend": backend}, base, env, timeout)
        if backend == "local":
            measured.pop("phases_s")  # the phases are the Dask backend's
        run_stage(
            project,
            [
                "stages/evaluate.py",
                "out/model.joblib",
                "split/test.parquet",
                "out/evaluate",
                "out/evaluate_plots",
            ],
            {},
            timeout,
        )
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
    parser.add_argument("--compare-at", type=int, default=16, help="the size of local vs Dask")
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
    cluster = Cluster(work, args.limit)
    try:
        sizes_found = scale(project, cluster, sizes, args.rounds, base=base, timeout=args.timeout)
        results["scale"] = {
            "sizes": sizes_found,
            "rows_growth_per_step": 4,
            "time_growth_per_step": growth(sizes_found),
        }
        results["comparison"] = comparison(
            project, cluster, args.compare_at, args.rounds, base=base, timeout=args.timeout
        )
        print(json.dumps(results["comparison"]), flush=True)
        if args.real_split:
            results["real_data"] = real_data(
                project, cluster, Path(args.real_split), base, args.timeout
            )
            print(json.dumps(results["real_data"]), flush=True)
    finally:
        cluster.close()
        results["machine"]["load_after"] = round(os.getloadavg()[0], 2)
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
