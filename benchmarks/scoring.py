"""Scoring benchmark: the compiled scorer (music_genre.modeling.compiled) against LightGBM's own
predictor on the same model and rows, on one core.

Sections (results in benchmarks/results/scoring.json, printed as JSON):
- `build`: what the scorer costs to set up: the kernel's compile (an empty cache), reading the
  model's forest, and a load that finds both cached;
- `layout`: the scorer alone and the booster alone on the test split's in-memory feature matrix,
  as CSR (what the column transformer gives), dense and one row per call: rows/s;
- `batch`: `predict_file` in this process (read, preprocessed, scored, written: what
  `music-genre predict` does after loading), compiled against `MUSIC_GENRE_SCORER=booster`,
  and its ratio to the scorer alone on the in-memory matrix (the floor);
- `process`: the whole `music-genre predict` process under `taskset -c 0` (interpreter, imports,
  model load, then the batch), on the test split and on it repeated `--repeat` times, and on one
  row (the fixed cost);
- `single_row`: in-process latency of one row on the lean path (what the API runs);
- `rest`: `music-genre serve --workers 1` (monitoring on, the default) pinned to one core, one
  row per /predict request from a client on another core, compiled and booster servers up at
  once and requests alternating between them;
- `catalogue`: 100 million rows at the measured one-core rates;
- `alternatives` (only with `--only alternatives`; needs `pip install onnx onnxruntime`, which
  are not project dependencies, and gcc): ONNX Runtime's TreeEnsemble (double precision) and the
  model generated as nested if/else C (treelite's and lleaves' approach), against the kernel.

Run after `dvc repro` (models/model.joblib, data/split/test.parquet):

    python benchmarks/scoring.py [--only SECTION ...] [--repeat 8] [--requests 1000]

Each comparison runs both sides in this one process (or alternately), because the machine is
shared: read the ratios first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# One core: OpenMP (LightGBM's predictor) must not start a thread per CPU of the machine on
# the one core this process is pinned to (it reads this before LightGBM is imported).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from common import free_port, wait_healthy

from music_genre.experiments.costs import decision_nodes
from music_genre.modeling import compiled, kernel
from music_genre.modeling.compiled import compile_scorer
from music_genre.modeling.forest import forest_of
from music_genre.serving.predict import Predictor, predict_file

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE_ROWS = 100_000_000
REPEATS = 3


def median_seconds(action: Callable[[], Any], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[int(len(ordered) * 0.99) - 1],
    }


def feature_matrix(predictor: Predictor, songs: pd.DataFrame) -> Any:
    prepared = predictor.inputs.prepare(songs)[predictor.card["input_columns"]]
    return predictor.features.transform(prepared)


def build_costs(model: Path) -> dict:
    """The kernel compiled into an empty cache, the forest read from the model, and a load
    that finds both in the cache."""
    pipeline = Predictor.load(model, lean=False, scorer=False).pipeline
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        kernel.load_kernel(cache)
        compile_s = time.perf_counter() - start
    forest_s = median_seconds(lambda: forest_of(pipeline[-1]), 1)
    card = Predictor.load(model, lean=False, scorer=False).card
    sha = card["model_sha256"]
    compile_scorer(pipeline[-1], model_sha256=sha)  # fills the default cache
    cached_s = median_seconds(lambda: compile_scorer(pipeline[-1], model_sha256=sha))
    return {
        "kernel_compile_s": compile_s,
        "forest_from_model_s": forest_s,
        "scorer_from_cache_ms": 1000 * cached_s,
        "trees": int(pipeline[-1].booster_.num_trees()),
        # What tune.max_nodes counts (experiments.costs), so a rate here can become a cap.
        "decision_nodes": decision_nodes(pipeline[-1]),
        "compiler": kernel._compiler(),
    }


def rates(n: int, seconds: float) -> dict[str, float]:
    return {"s": seconds, "rows_per_s": n / seconds}


def layout_comparison(predictor: Predictor, songs: pd.DataFrame) -> dict:
    """The scorer and the booster alone on the same in-memory matrix, each layout."""
    csr = feature_matrix(predictor, songs)
    dense = np.ascontiguousarray(csr.toarray())
    booster = predictor.pipeline[-1].booster_
    scorer = predictor.scorer
    n = csr.shape[0]
    rows = 2000
    per_row_scorer = median_seconds(
        lambda: [scorer.predict_proba(dense[i : i + 1]) for i in range(rows)], 1
    )
    per_row_booster = median_seconds(
        lambda: [booster.predict(dense[i : i + 1], num_threads=1) for i in range(rows)], 1
    )
    results = {
        "rows": n,
        "features": csr.shape[1],
        "scorer_csr": rates(n, median_seconds(lambda: scorer.predict_proba(csr))),
        "scorer_dense": rates(n, median_seconds(lambda: scorer.predict_proba(dense))),
        "scorer_per_row": rates(rows, per_row_scorer),
        "booster_csr": rates(n, median_seconds(lambda: booster.predict(csr, num_threads=1), 1)),
        "booster_dense": rates(n, median_seconds(lambda: booster.predict(dense, num_threads=1), 1)),
        "booster_per_row": rates(rows, per_row_booster),
        "same_probabilities": bool(np.array_equal(scorer.predict_proba(csr), booster.predict(csr))),
    }
    fastest = max(("csr", "dense", "per_row"), key=lambda k: results[f"scorer_{k}"]["rows_per_s"])
    results["scorer_fastest_layout"] = fastest
    results["scorer_csr_over_booster_csr"] = (
        results["scorer_csr"]["rows_per_s"] / results["booster_csr"]["rows_per_s"]
    )
    return results


def batch_comparison(model: Path, songs_path: Path, songs: pd.DataFrame) -> dict:
    """predict_file, compiled and booster, in this process; the floor: the scorer alone."""
    compiled_predictor = Predictor.load(model)
    booster_predictor = Predictor.load(model, scorer=False)
    n = len(songs)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "predictions.parquet"

        def run(predictor: Predictor) -> None:
            predict_file(predictor, songs_path, target, with_probabilities=True, progress=False)

        compiled_s = median_seconds(lambda: run(compiled_predictor))
        booster_s = median_seconds(lambda: run(booster_predictor))
    csr = feature_matrix(compiled_predictor, songs)
    floor_s = median_seconds(lambda: compiled_predictor.scorer.predict_proba(csr))
    return {
        "rows": n,
        "with_probabilities": True,
        "compiled": rates(n, compiled_s),
        "booster": rates(n, booster_s),
        "speedup": booster_s / compiled_s,
        "floor_scorer_alone": rates(n, floor_s),
        "compiled_over_floor": compiled_s / floor_s,
    }


def run_process(arguments: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(arguments, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def process_comparison(model: Path, songs: pd.DataFrame, repeat: int) -> dict:
    """`taskset -c 0 music-genre predict` as a whole process, compiled and booster, alternating
    runs; on one row, on the test split and on it repeated."""
    command = [sys.executable, "-m", "music_genre.cli", "predict", "--model", str(model)]
    results: dict[str, Any] = {"pinned": "taskset -c 0", "runs": REPEATS}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {
            "one_row": songs.head(1),
            "test_split": songs,
            f"test_split_x{repeat}": pd.concat([songs] * repeat, ignore_index=True),
        }
        for name, table in inputs.items():
            source = Path(tmp) / f"{name}.parquet"
            table.to_parquet(source, index=False)
            arguments = ["taskset", "-c", "0", *command, "--input", str(source),
                         "--output", str(Path(tmp) / "out.parquet"), "--probabilities"]  # fmt: skip
            times: dict[str, list[float]] = {"compiled": [], "booster": []}
            run_process(arguments, dict(os.environ))  # warm: the scorer's cache, the page cache
            runs = 1 if name.startswith("test_split_x") else REPEATS
            for _ in range(runs):
                for side, values in times.items():
                    env = {**os.environ, compiled.SCORER_ENV: side}
                    values.append(run_process(arguments, env))
            medians = {side: statistics.median(values) for side, values in times.items()}
            results[name] = {
                "rows": len(table),
                "runs": runs,
                "compiled": rates(len(table), medians["compiled"]),
                "booster": rates(len(table), medians["booster"]),
                "speedup": medians["booster"] / medians["compiled"],
            }
    big = results[f"test_split_x{repeat}"]
    one = results["one_row"]
    for side in ("compiled", "booster"):
        # Rows per second once the process has started: the fixed cost taken out.
        extra = big[side]["s"] - one[side]["s"]
        results[f"{side}_marginal_rows_per_s"] = (big["rows"] - 1) / extra
    return results


def single_row_latency(model: Path, songs: pd.DataFrame, rows: int) -> dict:
    """One row per call on the lean path (what /predict runs for a one-row request): scored
    alone (a validated row), and validated (pydantic, the contract's checks) then scored."""
    results: dict[str, Any] = {"rows": rows}
    for side, predictor in (
        ("compiled", Predictor.load(model)),
        ("booster", Predictor.load(model, scorer=False)),
    ):
        inputs = predictor.inputs
        records = json.loads(songs[list(inputs.columns)].head(rows).to_json(orient="records"))
        validated = inputs.validate_records(records, "songs")
        for row in validated[:50]:  # warm
            predictor.predict_proba_rows([row])
        scored, checked = [], []
        for record, row in zip(records, validated, strict=True):
            start = time.perf_counter()
            predictor.predict_proba_rows([row])
            middle = time.perf_counter()
            predictor.predict_proba_rows(inputs.validate_records([record], "songs"))
            scored.append(middle - start)
            checked.append(time.perf_counter() - middle)
        results[side] = {
            "scored": percentiles(scored),
            "validated_and_scored": percentiles(checked),
        }
    results["p50_booster_over_compiled"] = (
        results["booster"]["scored"]["p50_ms"] / results["compiled"]["scored"]["p50_ms"]
    )
    return results


@contextmanager
def serve(model: Path, scorer: str, cpu: int) -> Iterator[str]:
    """`music-genre serve --workers 1` (monitoring on) on a free port, pinned to `cpu`, with
    MUSIC_GENRE_SCORER=`scorer`; from the project root, so /drift has its references."""

    port = free_port()
    process = subprocess.Popen(
        ["taskset", "-c", str(cpu), sys.executable, "-m", "music_genre.cli", "serve",
         "--model", str(model), "--port", str(port), "--workers", "1"],
        cwd=ROOT, env={**os.environ, compiled.SCORER_ENV: scorer},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/health")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


REST_BLOCK = 250


def app_seconds(metrics: str) -> tuple[float, float]:
    """/predict's request-to-response seconds inside the app, summed, and the request count
    (the server's Prometheus histogram)."""
    values = {"sum": 0.0, "count": 0.0}  # none before the first request
    for line in metrics.splitlines():
        for name in values:
            if line.startswith(f'music_genre_request_duration_seconds_{name}{{route="/predict"}}'):
                values[name] = float(line.rsplit(" ", 1)[1])
    return values["sum"], values["count"]


def rest_latency(model: Path, songs: pd.DataFrame, requests: int) -> dict:
    """One row per /predict request, sequential, to a compiled and a booster server (each one
    worker on core 0, both up; this client on core 1), in blocks of REST_BLOCK requests that
    alternate between them (a server's caches stay its own within a block): p50 and p99, and
    the mean time inside the app (its /metrics) beside it."""
    import httpx

    contract = Predictor.load(model, lean=False, scorer=False).contract
    columns = list(contract.input_columns)
    bodies = [
        json.dumps({contract.name: [row]})
        for row in json.loads(songs[columns].head(500).to_json(orient="records"))
    ]
    headers = {"content-type": "application/json"}
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1})
    latency: dict[str, list[float]] = {"compiled": [], "booster": []}
    inside: dict[str, list[float]] = {"compiled": [0.0, 0.0], "booster": [0.0, 0.0]}
    try:
        with (
            serve(model, compiled.COMPILED, 0) as fast,
            serve(model, compiled.BOOSTER, 0) as slow,
            httpx.Client(timeout=60) as client,
        ):
            for block in range(2 * (requests // REST_BLOCK + 1)):
                side, base = (("compiled", fast), ("booster", slow))[block % 2]
                before = app_seconds(client.get(f"{base}/metrics").text)
                for index in range(REST_BLOCK):
                    body = bodies[(block * REST_BLOCK + index) % len(bodies)]
                    start = time.perf_counter()
                    answer = client.post(f"{base}/predict", content=body, headers=headers)
                    elapsed = time.perf_counter() - start
                    answer.raise_for_status()
                    if block >= 2:  # each side's first block warms it up
                        latency[side].append(elapsed)
                after = app_seconds(client.get(f"{base}/metrics").text)
                if block >= 2:
                    inside[side][0] += after[0] - before[0]
                    inside[side][1] += after[1] - before[1]
    finally:
        os.sched_setaffinity(0, mine)
    results: dict[str, Any] = {
        "server": "serve --workers 1, monitoring on, pinned to core 0; client on core 1",
        "requests": len(latency["compiled"]),
        "block": REST_BLOCK,
        **{
            side: {**percentiles(times), "in_app_mean_ms": 1000 * inside[side][0] / inside[side][1]}
            for side, times in latency.items()
        },
    }
    results["p50_booster_over_compiled"] = (
        results["booster"]["p50_ms"] / results["compiled"]["p50_ms"]
    )
    return results


def catalogue(results: dict) -> dict:
    """100 million rows on one core at the measured rates."""
    batch = results["batch"]
    process = results["process"]

    def hours(rows_per_s: float) -> float:
        return CATALOGUE_ROWS / rows_per_s / 3600

    hours_of = {
        "compiled_predict_file_h": hours(batch["compiled"]["rows_per_s"]),
        "booster_predict_file_h": hours(batch["booster"]["rows_per_s"]),
        "compiled_process_marginal_h": hours(process["compiled_marginal_rows_per_s"]),
        "booster_process_marginal_h": hours(process["booster_marginal_rows_per_s"]),
    }
    return {"rows": CATALOGUE_ROWS, "cores": 1, **hours_of}


# The goals (#31): batch scoring on one core at least 8x LightGBM's own predictor and
# 20,000 rows/s; one row in process within 0.5 ms (p50); over REST within 2 ms (p50).
SPEEDUP_GOAL = 8.0
RATE_GOAL = 20_000.0
SINGLE_ROW_GOAL_MS = 0.5
REST_GOAL_MS = 2.0


def goals(results: dict) -> dict:
    """Each goal with what was measured for it and whether it is met."""
    process = results.get("process", {})
    large = next((value for key, value in process.items() if key.startswith("test_split_x")), None)
    measured: dict[str, tuple[float, float, bool] | None] = {
        "predict_file_speedup": (SPEEDUP_GOAL, results["batch"]["speedup"], True)
        if "batch" in results
        else None,
        "predict_file_rows_per_s": (RATE_GOAL, results["batch"]["compiled"]["rows_per_s"], True)
        if "batch" in results
        else None,
        "process_test_split_speedup": (SPEEDUP_GOAL, process["test_split"]["speedup"], True)
        if process
        else None,
        "process_test_split_rows_per_s": (
            RATE_GOAL,
            process["test_split"]["compiled"]["rows_per_s"],
            True,
        )
        if process
        else None,
        "process_large_file_speedup": (SPEEDUP_GOAL, large["speedup"], True) if large else None,
        "process_large_file_rows_per_s": (RATE_GOAL, large["compiled"]["rows_per_s"], True)
        if large
        else None,
        "single_row_p50_ms": (
            SINGLE_ROW_GOAL_MS,
            results["single_row"]["compiled"]["validated_and_scored"]["p50_ms"],
            False,
        )
        if "single_row" in results
        else None,
        "rest_p50_ms": (REST_GOAL_MS, results["rest"]["compiled"]["p50_ms"], False)
        if "rest" in results
        else None,
    }
    return {
        name: {"goal": goal, "measured": value, "met": value >= goal if at_least else value <= goal}
        for name, entry in measured.items()
        if entry is not None
        for goal, value, at_least in [entry]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "model.joblib"))
    parser.add_argument("--songs", default=str(ROOT / "data" / "split" / "test.parquet"))
    parser.add_argument("--repeat", type=int, default=8, help="copies of the test split (process)")
    parser.add_argument("--requests", type=int, default=1000, help="REST requests per side")
    parser.add_argument("--rows", type=int, default=2000, help="single rows timed in process")
    parser.add_argument(
        "--blocked-codegen",
        action="store_true",
        help="alternatives: also the generated C over blocks of rows (gcc takes minutes)",
    )
    parser.add_argument("--only", nargs="*", help="only these sections (the others are kept)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "scoring.json"))
    args = parser.parse_args()

    model, songs_path = Path(args.model), Path(args.songs)
    contract = Predictor.load(model, lean=False, scorer=False).contract
    derived = [contract.target, contract.text_feature]
    songs = pd.read_parquet(songs_path).drop(columns=derived, errors="ignore")
    output = Path(args.output)
    # Sections this run does not measure (`alternatives` without --only, or those --only
    # leaves out) are kept from the file, so a full run keeps every key.
    results = json.loads(output.read_text()) if output.is_file() else {}
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.machine(),
        "load_1min_before": os.getloadavg()[0],
    }
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})  # in-process sections: one core (the scorer: one thread)
    sections: dict[str, Callable[[], Any]] = {
        "build": lambda: build_costs(model),
        "layout": lambda: layout_comparison(Predictor.load(model), songs),
        "batch": lambda: batch_comparison(model, songs_path, songs),
        "process": lambda: process_comparison(model, songs, args.repeat),
        "single_row": lambda: single_row_latency(model, songs, args.rows),
        "rest": lambda: rest_latency(model, songs, args.requests),
    }
    if args.only and "alternatives" in args.only:
        from alternatives import alternatives  # benchmarks/alternatives.py

        sections["alternatives"] = lambda: alternatives(
            Predictor.load(model), songs, blocked=args.blocked_codegen
        )
    try:
        for name, measure in sections.items():
            if args.only and name not in args.only:
                continue
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            if name == "rest":
                os.sched_setaffinity(0, mine)
            before = os.getloadavg()[0]
            measured = measure()
            # The machine is shared: what else ran meanwhile, as the 1-minute load.
            measured["load_1min"] = {"before": before, "after": os.getloadavg()[0]}
            results[name] = measured
    finally:
        os.sched_setaffinity(0, mine)
    if "batch" in results and "process" in results:
        results["catalogue"] = catalogue(results)
    results["goals"] = goals(results)
    results["machine"]["load_1min_after"] = os.getloadavg()[0]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
