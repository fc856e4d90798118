"""Serving benchmark: batch `predict` vs bare predict_proba, REST latency/throughput, metrics
and drift on vs off, `music-genre serve` against MLflow's own `mlflow models serve` on the MLflow
Model of the same model (section `mlflow`: /invocations, same bodies, same workers), explanations
(one song, and a batch against its prediction), and what bounds a request: the cost per song
behind the caps, /predict and /explain at their caps, and SIGTERM to exit with requests in
flight.

Run after `dvc repro` (it uses models/model.joblib, models/mlflow and the test split):

    python benchmarks/serving.py [--requests 2000] [--concurrency 8] [--rounds 3]

A full run takes about half an hour on 2 cores. `--only SECTION ...` measures only those
sections and keeps the others' last results in the file; the request bounds alone (~8 min):

    python benchmarks/serving.py --only cost_per_song predict_at_cap explain_at_cap sigterm

Both sides of each comparison run in this one process, one after the other, because these
machines are shared and noisy: read the ratios, not the absolute times. The request bounds are
measured with the server pinned to one core and this client on another (`cost_per_song`,
`*_at_cap`: one request at a time, p50 and p99). Results go to benchmarks/results/serving.json
and are printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
from common import free_port, wait_healthy

from music_genre.data.contract import load_contract
from music_genre.serving import limits
from music_genre.serving.limits import default_workers
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
        prepared = predictor.inputs.prepare(songs)[predictor.card["input_columns"]]
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


@contextmanager
def running_server(model: Path, *options: str, cpu: int | None = None) -> Iterator[str]:
    """`music-genre serve` (from the project root, so /drift has its reference) on a free port;
    with `cpu`, pinned to that one core."""
    with server_process(model, *options, cpu=cpu) as (base, _):
        yield base


@contextmanager
def server_process(
    model: Path, *options: str, cpu: int | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    mine = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # inherited by the server and its workers
    try:
        server = subprocess.Popen(
            [sys.executable, "-m", "music_genre.cli", "serve", "--model", str(model),
             "--port", str(port), *options],
            cwd=ROOT,
        )  # fmt: skip
    finally:
        os.sched_setaffinity(0, mine)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/health")
        yield base, server
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=30)


def request_bodies(songs: pd.DataFrame, rows: int) -> list[dict]:
    columns = list(load_contract(ROOT / "contract.yaml").input_columns)
    return json.loads(songs[columns].head(rows).to_json(orient="records"))


def load(
    base: str, bodies: list[dict], requests: int, concurrency: int, path: str, *, key: str = "songs"
) -> dict:
    """One song per request (`{key: [song]}`): sequential latency, then `requests` at
    `concurrency`."""
    with httpx.Client(base_url=base, timeout=60) as client:
        sequential = []
        for index in range(min(requests, 300)):
            start = time.perf_counter()
            client.post(path, json={key: [bodies[index % len(bodies)]]})
            sequential.append(time.perf_counter() - start)

        def call(index: int) -> int:
            return client.post(path, json={key: [bodies[index % len(bodies)]]}).status_code

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            statuses = list(pool.map(call, range(requests)))
        elapsed = time.perf_counter() - start
    sequential.sort()
    return {
        "single_song_latency_p50_ms": 1000 * sequential[len(sequential) // 2],
        "single_song_latency_p99_ms": 1000 * sequential[int(len(sequential) * 0.99) - 1],
        "requests": requests,
        "concurrency": concurrency,
        "throughput_requests_per_s": requests / elapsed,
        "errors": sum(status != 200 for status in statuses),
    }


def rest_benchmark(
    model: Path, songs: pd.DataFrame, requests: int, concurrency: int, workers: int | None
) -> dict:
    """/predict one song at a time, then under load. workers=None: `serve`'s default."""
    options = [] if workers is None else ["--workers", str(workers)]
    with running_server(model, *options) as base:
        measured = load(base, request_bodies(songs, 500), requests, concurrency, "/predict")
    return {"workers": workers or default_workers(), **measured}


def monitoring_comparison(
    model: Path, songs: pd.DataFrame, requests: int, concurrency: int, rounds: int
) -> dict:
    """/predict with metrics and drift on (the default) and off (--no-monitoring), default
    workers, both servers up at once. Latency: single-song requests alternating between the
    two (paired, so both see the same machine); throughput: load rounds alternating between
    them, medians."""
    bodies = request_bodies(songs, 500)
    with (
        running_server(model, "--no-monitoring") as off,
        running_server(model) as on,
        httpx.Client(timeout=60) as client,
    ):
        latency: dict[str, list[float]] = {"off": [], "on": []}
        for index in range(2 * requests):
            side, base = (("off", off), ("on", on))[index % 2]
            start = time.perf_counter()
            client.post(f"{base}/predict", json={"songs": [bodies[index % len(bodies)]]})
            latency[side].append(time.perf_counter() - start)
        runs: dict[str, list[dict]] = {"off": [], "on": []}
        for _ in range(rounds):
            for side, base in (("off", off), ("on", on)):
                runs[side].append(load(base, bodies, requests, concurrency, "/predict"))
    sides = {}
    for side, times in latency.items():
        times.sort()
        sides[side] = {
            "single_song_latency_p50_ms": 1000 * times[len(times) // 2],
            "single_song_latency_p99_ms": 1000 * times[int(len(times) * 0.99) - 1],
            "throughput_requests_per_s": statistics.median(
                run["throughput_requests_per_s"] for run in runs[side]
            ),
            "errors": sum(run["errors"] for run in runs[side]),
        }
    return {
        "workers": default_workers(),
        "rounds": rounds,
        "requests": requests,
        "concurrency": concurrency,
        "off": sides["off"],
        "on": sides["on"],
        "p50_delta_ms": sides["on"]["single_song_latency_p50_ms"]
        - sides["off"]["single_song_latency_p50_ms"],
        "throughput_on_over_off": sides["on"]["throughput_requests_per_s"]
        / sides["off"]["throughput_requests_per_s"],
    }


@contextmanager
def mlflow_server(model_dir: Path, workers: int) -> Iterator[str]:
    """`mlflow models serve --env-manager local` on an MLflow Model, on a free port of
    127.0.0.1, in its own process group (its uvicorn workers end with it)."""
    port = free_port()
    bin_dir = Path(sys.executable).parent  # MLflow execs `uvicorn` from PATH
    server = subprocess.Popen(
        [str(bin_dir / "mlflow"), "models", "serve", "-m", str(model_dir),
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)],
        cwd=ROOT, start_new_session=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if server.poll() is not None:
                raise SystemExit(f"mlflow models serve exited {server.returncode}")
            try:
                if httpx.get(f"{base}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def mlflow_comparison(
    model: Path,
    model_dir: Path,
    songs: pd.DataFrame,
    *,
    requests: int,
    concurrency: int,
    rounds: int,
) -> dict:
    """POST /invocations, one song per request as `{"dataframe_records": [song]}`, to
    `music-genre serve` (defaults: monitoring on, one worker per CPU) and to `mlflow models serve
    --env-manager local` on the MLflow Model of the same model, with as many workers; both up at
    once. Latency: single-song requests alternating between the two (paired); throughput: load
    rounds alternating between them, medians. The answers to the first 200 bodies are compared."""
    if not (model_dir / "MLmodel").is_file():
        raise SystemExit(f"{model_dir}: no MLflow Model (run `dvc repro`, the package stage)")
    bodies = request_bodies(songs, 500)
    workers = default_workers()
    key = "dataframe_records"
    with (
        running_server(model) as ours,
        mlflow_server(model_dir, workers) as theirs,
        httpx.Client(timeout=60) as client,
    ):
        sides = {"music_genre_serve": ours, "mlflow_models_serve": theirs}
        same = _same_answers(client, list(sides.values()), bodies[:200], key)
        latency: dict[str, list[float]] = {side: [] for side in sides}
        for index in range(2 * requests):
            side, base = list(sides.items())[index % 2]
            start = time.perf_counter()
            client.post(f"{base}/invocations", json={key: [bodies[index % len(bodies)]]})
            latency[side].append(time.perf_counter() - start)
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        for _ in range(rounds):
            for side, base in sides.items():
                runs[side].append(
                    load(base, bodies, requests, concurrency, "/invocations", key=key)
                )
    results: dict = {
        "workers": workers, "rounds": rounds, "requests": requests, "concurrency": concurrency,
        "mlflow": _mlflow_version(), "same_predictions": same,
    }  # fmt: skip
    for side, times in latency.items():
        times.sort()
        results[side] = {
            "single_song_latency_p50_ms": 1000 * times[len(times) // 2],
            "single_song_latency_p99_ms": 1000 * times[int(len(times) * 0.99) - 1],
            "throughput_requests_per_s": statistics.median(
                run["throughput_requests_per_s"] for run in runs[side]
            ),
            "errors": sum(run["errors"] for run in runs[side]),
        }
    ours_side, theirs_side = results["music_genre_serve"], results["mlflow_models_serve"]
    results["p50_mlflow_over_ours"] = (
        theirs_side["single_song_latency_p50_ms"] / ours_side["single_song_latency_p50_ms"]
    )
    results["throughput_ours_over_mlflow"] = (
        ours_side["throughput_requests_per_s"] / theirs_side["throughput_requests_per_s"]
    )
    return results


def _same_answers(client: httpx.Client, bases: list[str], bodies: list[dict], key: str) -> bool:
    """Whether every server answers each one-song body with the same JSON."""
    for body in bodies:
        answers = [client.post(f"{base}/invocations", json={key: [body]}) for base in bases]
        if any(answer.status_code != 200 for answer in answers):
            return False
        if any(answer.json() != answers[0].json() for answer in answers[1:]):
            return False
    return True


def _mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow-skinny")


def explain_benchmark(model: Path, songs: pd.DataFrame, batch_rows: int, requests: int) -> dict:
    """/explain one song at a time (p50), and one batch of `batch_rows` songs against /predict
    of the same batch on the same one-worker server (medians of 3, alternating)."""
    bodies = request_bodies(songs, batch_rows)
    caps = ["--max-explain-songs", str(batch_rows), "--max-predict-songs", str(batch_rows)]
    with running_server(
        model, "--workers", "1", "--max-body-bytes", str(256 * 1024 * 1024), *caps
    ) as base:
        single = load(base, bodies, requests, 1, "/explain")
        with httpx.Client(base_url=base, timeout=600) as client:
            times: dict[str, list[float]] = {"/predict": [], "/explain": []}
            for _ in range(3):
                for path, seconds in times.items():
                    start = time.perf_counter()
                    response = client.post(path, json={"songs": bodies})
                    seconds.append(time.perf_counter() - start)
                    response.raise_for_status()
    predict_s, explain_s = (statistics.median(times[p]) for p in ("/predict", "/explain"))
    return {
        "single_song_p50_ms": single["single_song_latency_p50_ms"],
        "single_song_p99_ms": single["single_song_latency_p99_ms"],
        "batch_rows": len(bodies),
        "batch_predict_s": predict_s,
        "batch_explain_s": explain_s,
        "batch_explain_over_predict": explain_s / predict_s,
    }


def explain_compute(predictor: Predictor, songs: pd.DataFrame, rows: int) -> dict:
    """In process, without HTTP or JSON: TreeSHAP against the prediction of the same matrix."""
    from music_genre.serving.explain import Explainer

    explainer = Explainer.for_predictor(predictor)
    matrix = explainer.matrix_of_frame(predictor.inputs.prepare(songs.head(rows)))
    predict = median_seconds(lambda: explainer.booster.predict(matrix), 3)
    explain = median_seconds(lambda: explainer.explain(matrix), 3)
    return {
        "rows": len(matrix),
        "booster_predict_s": predict,
        "explain_s": explain,
        "explain_over_predict": explain / predict,
    }


@contextmanager
def pinned_client() -> Iterator[int]:
    """This process on the last core; yields another one for the server."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[-1]})
    try:
        yield cores[0]
    finally:
        os.sched_setaffinity(0, set(cores))


def batch_latency(base: str, path: str, bodies: list[dict], rows: int, requests: int) -> dict:
    """`requests` requests of `rows` songs each, one at a time (different songs each time)."""
    payloads = [
        json.dumps({"songs": [bodies[(i * rows + j) % len(bodies)] for j in range(rows)]})
        for i in range(min(requests, 20))
    ]
    times = []
    with httpx.Client(base_url=base, timeout=600) as client:
        for index in range(requests):
            start = time.perf_counter()
            response = client.post(
                path,
                content=payloads[index % len(payloads)],
                headers={"content-type": "application/json"},
            )
            times.append(time.perf_counter() - start)
            response.raise_for_status()
    times.sort()
    p50 = statistics.median(times)
    return {
        "songs": rows,
        "requests": requests,
        "p50_ms": 1000 * p50,
        "p99_ms": 1000 * times[max(0, int(len(times) * 0.99) - 1)],
        "max_ms": 1000 * times[-1],
        "per_song_ms": 1000 * p50 / rows,
    }


REQUEST_BOUNDS = ("cost_per_song", "predict_at_cap", "explain_at_cap", "sigterm")
COST_SIZES = {"/predict": (1, 10, 100, 500, 1000, 2000), "/explain": (1, 10, 50, 100, 200)}


def cost_per_song(model: Path, songs: pd.DataFrame) -> dict:
    """What the caps are chosen from: one worker on one core, a batch of each size at a time
    (~20 s of requests per size, at least 5), p50 and p99 per request."""
    bodies = request_bodies(songs, len(songs))
    largest = max(max(sizes) for sizes in COST_SIZES.values())
    caps = ["--max-predict-songs", str(largest), "--max-explain-songs", str(largest)]
    results: dict = {"server": "--workers 1, pinned to one core"}
    with pinned_client() as core, running_server(model, "--workers", "1", *caps, cpu=core) as base:
        for path, sizes in COST_SIZES.items():
            guess_ms = 8.0 if path == "/explain" else 0.4  # per song, for the request count
            results[path] = {
                str(rows): batch_latency(
                    base, path, bodies, rows, max(5, min(100, int(20_000 / (rows * guess_ms))))
                )
                for rows in sizes
            }
    return results


def at_cap(model: Path, songs: pd.DataFrame, path: str, cap: int, requests: int) -> dict:
    """`path` at its default cap: `serve --workers 1` with its defaults, pinned to one core."""
    bodies = request_bodies(songs, len(songs))
    with pinned_client() as core, running_server(model, "--workers", "1", cpu=core) as base:
        measured = batch_latency(base, path, bodies, cap, requests)
    return {"cap": cap, "cores": 1, **measured}


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (a server and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _in_flight(base: str, process: subprocess.Popen, path: str, body: str, cpu_s: float) -> dict:
    """Post `body` from a thread; return once the server has spent `cpu_s` CPU seconds on it.
    The returned dict gets the answer's status (or the error) when it comes."""
    import threading

    answer: dict = {}

    def post() -> None:
        try:
            response = httpx.post(
                f"{base}{path}", content=body, headers={"content-type": "application/json"},
                timeout=600,
            )  # fmt: skip
            answer["status"] = response.status_code
        except httpx.HTTPError as error:
            answer["error"] = type(error).__name__

    answer["thread"] = threading.Thread(target=post)
    start = _cpu_seconds(process.pid)
    answer["thread"].start()
    while _cpu_seconds(process.pid) - start < cpu_s and answer["thread"].is_alive():
        time.sleep(0.02)
    return answer


def sigterm_benchmark(model: Path, songs: pd.DataFrame) -> dict:
    """SIGTERM with a request in flight, `serve` with its default grace period: (a) an /explain
    far longer than the grace (the cap raised to 4,000 songs, ~30 s of work) is answered 503 and
    the server exits just after the grace period; (b) an /explain at its cap is answered 200
    and the server exits as soon as it is, well before the grace period ends."""
    bodies = request_bodies(songs, len(songs))
    long_rows = 4000
    results: dict = {"grace_period_s": limits.GRACE_SECONDS}
    cases = {
        "long_explain": (long_rows, 1.0),
        "explain_at_cap": (limits.MAX_EXPLAIN_SONGS, 0.05),
    }
    for workers in ("1", "2"):
        for case, (rows, busy_s) in cases.items():
            body = json.dumps({"songs": bodies[:rows]})
            options = ["--workers", workers, "--max-explain-songs", str(long_rows)]
            with server_process(model, *options) as (base, process):
                answer = _in_flight(base, process, "/explain", body, busy_s)
                start = time.perf_counter()
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=120)
                exit_s = time.perf_counter() - start
                answer.pop("thread").join()
            results[f"workers_{workers}_{case}"] = {
                "songs": rows,
                "sigterm_to_exit_s": exit_s,
                "answer": answer.get("status", answer.get("error")),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "model.joblib"))
    parser.add_argument(
        "--mlflow-model",
        default=str(ROOT / "models" / "mlflow"),
        help="the MLflow Model of --model",
    )
    parser.add_argument("--songs", default=str(ROOT / "data" / "split" / "test.parquet"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="monitoring on/off alternations")
    parser.add_argument("--batch-songs", type=int, default=10_000, help="explained batch")
    parser.add_argument(
        "--cap-requests", type=int, default=200, help="requests at each cap (p99 of these)"
    )
    parser.add_argument(
        "--only", nargs="*", help="measure only these sections (others keep their last results)"
    )
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "serving.json"))
    args = parser.parse_args()

    predictor = Predictor.load(args.model)
    contract = load_contract(ROOT / "contract.yaml")
    derived = [contract.target, contract.text_feature]
    songs = pd.read_parquet(args.songs).drop(columns=derived, errors="ignore")
    model = Path(args.model)
    sections = {
        "batch": lambda: batch_comparison(predictor, songs),
        "rest": lambda: rest_benchmark(model, songs, args.requests, args.concurrency, None),
        "rest_one_worker": lambda: rest_benchmark(model, songs, args.requests, args.concurrency, 1),
        "monitoring": lambda: monitoring_comparison(
            model, songs, args.requests, args.concurrency, args.rounds
        ),
        "mlflow": lambda: mlflow_comparison(
            model,
            Path(args.mlflow_model),
            songs,
            requests=args.requests,
            concurrency=args.concurrency,
            rounds=args.rounds,
        ),
        "explain": lambda: explain_benchmark(
            model, songs, args.batch_songs, min(args.requests, 300)
        ),
        "explain_compute": lambda: explain_compute(predictor, songs, args.batch_songs),
        "cost_per_song": lambda: cost_per_song(model, songs),
        "predict_at_cap": lambda: at_cap(
            model, songs, "/predict", limits.MAX_PREDICT_SONGS, args.cap_requests
        ),
        "explain_at_cap": lambda: at_cap(
            model, songs, "/explain", limits.MAX_EXPLAIN_SONGS, args.cap_requests
        ),
        "sigterm": lambda: sigterm_benchmark(model, songs),
    }
    output = Path(args.output)
    results = json.loads(output.read_text()) if args.only and output.is_file() else {}
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": _cpus(),
        "processor": platform.machine(),
    }
    for name, measure in sections.items():
        if not args.only or name in args.only:
            load_before = os.getloadavg()[0]
            results[name] = measure()
            if name in (*REQUEST_BOUNDS, "mlflow"):  # other processes on the cores show here
                results[name]["load_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    for name, value in _flat(results):
        print(f"| {name} | {value:.4g} |" if isinstance(value, float) else f"| {name} | {value} |")


def _flat(results: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for name, value in results.items():
        if name == "machine":
            continue
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
