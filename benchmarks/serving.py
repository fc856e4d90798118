"""Serving benchmark: batch `predict` vs bare predict_proba, and REST latency/throughput.

Run after `dvc repro` (it uses models/model.joblib and the test split):

    python benchmarks/serving.py [--requests 2000] [--concurrency 8]

Both sides of each comparison run in this one process, one after the other, because these
machines are shared and noisy: read the ratios, not the absolute times. Results go to
benchmarks/results/serving.json and are printed as a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd

from music_genre.data.features import OPTIONAL_COLUMNS, REQUIRED_INPUT_COLUMNS
from music_genre.serving.api import default_workers
from music_genre.serving.inputs import prepare_songs
from music_genre.serving.predict import Predictor, predict_file

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5


def median_seconds(action, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def batch_comparison(predictor: Predictor, songs: pd.DataFrame) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "songs.parquet"
        songs.to_parquet(source, index=False)
        target = Path(tmp) / "predictions.parquet"
        prepared = prepare_songs(songs)[predictor.card["input_columns"]]
        bare = median_seconds(lambda: predictor.pipeline.predict_proba(prepared))
        cli = median_seconds(
            lambda: predict_file(predictor, source, target, with_probabilities=True, progress=False)
        )
    return {
        "rows": len(songs),
        "bare_predict_proba_s": bare,
        "predict_file_s": cli,
        "predict_file_rows_per_s": len(songs) / cli,
        "overhead_ratio": cli / bare,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rest_benchmark(
    model: Path, songs: pd.DataFrame, requests: int, concurrency: int, workers: int | None
) -> dict:
    """One song per request: sequential latency, then `requests` at `concurrency`.

    workers=None is the configuration `music-genre serve` uses by default.
    """
    port = free_port()
    options = [] if workers is None else ["--workers", str(workers)]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "music_genre.cli",
            "serve",
            "--model",
            str(model),
            "--port",
            str(port),
            *options,
        ],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        columns = [*REQUIRED_INPUT_COLUMNS, *OPTIONAL_COLUMNS]
        bodies = json.loads(songs[columns].head(500).to_json(orient="records"))
        with httpx.Client(base_url=base, timeout=30) as client:
            sequential = []
            for index in range(min(requests, 300)):
                start = time.perf_counter()
                client.post("/predict", json={"songs": [bodies[index % len(bodies)]]})
                sequential.append(time.perf_counter() - start)

            def call(index: int) -> int:
                return client.post(
                    "/predict", json={"songs": [bodies[index % len(bodies)]]}
                ).status_code

            start = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                statuses = list(pool.map(call, range(requests)))
            elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    sequential.sort()
    return {
        "workers": workers or default_workers(),
        "single_song_latency_p50_ms": 1000 * sequential[len(sequential) // 2],
        "single_song_latency_p99_ms": 1000 * sequential[int(len(sequential) * 0.99) - 1],
        "requests": requests,
        "concurrency": concurrency,
        "throughput_requests_per_s": requests / elapsed,
        "errors": sum(status != 200 for status in statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "model.joblib"))
    parser.add_argument("--songs", default=str(ROOT / "data" / "split" / "test.parquet"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "serving.json"))
    args = parser.parse_args()

    predictor = Predictor.load(args.model)
    songs = pd.read_parquet(args.songs).drop(columns=["genre", "text_feature"], errors="ignore")
    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": _cpus(),
            "processor": platform.machine(),
        },
        "batch": batch_comparison(predictor, songs),
        "rest": rest_benchmark(Path(args.model), songs, args.requests, args.concurrency, None),
        "rest_one_worker": rest_benchmark(
            Path(args.model), songs, args.requests, args.concurrency, 1
        ),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    rows = [
        (f"{section}.{name}", value)
        for section in ("batch", "rest", "rest_one_worker")
        for name, value in results[section].items()
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:.4g} |" if isinstance(value, float) else f"| {name} | {value} |")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
