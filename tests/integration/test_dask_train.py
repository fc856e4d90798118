"""train.backend dask on a real cluster: a `dask scheduler` and two `dask worker` processes
started here, as a user would start them from the shell.

- Two workers, each with a --memory-limit below the training table's size in memory, train
  it (the stage script, as dvc runs it) with every worker's peak memory under its limit, and
  the served model answers.
- `dvc exp run -S train.backend=dask` on a copy of the project (as the docs tell a user): an
  experiment trained on the cluster, evaluated and packaged like any other.
- The same data, params and worker count give the same model bytes, however the split is
  chunked.
- Faults, each one line on stderr, exit status 1 and nothing written: a worker SIGKILLed in
  the middle of the LightGBM fit, an unreachable scheduler, a worker without this package.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from music_genre.core.cluster import SCHEDULER_ENV
from support.cluster import dask_cluster
from support.data import prepared_songs, songs_contract
from support.project import clone_project, copy_project, run, set_params, tool_env

pytestmark = pytest.mark.dask

LIMIT = "500MiB"
LIMIT_BYTES = 500 * 2**20
# glibc returns freed memory to the OS above this (Dask's nanny sets it; these have none).
WORKER_ENV = {"MALLOC_TRIM_THRESHOLD_": "65536"}
STAGE = ["stages/train.py", "split/train.parquet", "out/model.joblib", "out/metrics", "out/plots"]


def wide_split(path: Path, rows: int, filler_words: int, row_group: int) -> int:
    """A prepared synthetic table whose title (and so the text feature) carries a long run of
    one filler word: large in memory, small as a TF-IDF matrix. Returns the in-memory size of
    the columns training reads."""
    contract = songs_contract()
    frame = prepared_songs(rows, seed=21)
    frame["title"] = frame["title"].fillna("") + " " + " ".join(["lalala"] * filler_words)
    frame = contract.with_text_feature(frame.drop(columns=[contract.text_feature]))
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False, row_group_size=row_group)
    read = [*contract.model_input_columns, *contract.groups.columns, contract.target]
    return int(frame[list(dict.fromkeys(read))].memory_usage(deep=True).sum())


def dask_project(root: Path, **dask: object) -> Path:
    project = copy_project(root / "project")
    updates = {f"dask__{key}": value for key, value in dask.items()}
    set_params(project, train__backend="dask", tfidf__max_features=200, **updates)
    (project / "split").mkdir()
    return project


def stage(project: Path, address: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *STAGE],
        cwd=project,
        env=tool_env(**{SCHEDULER_ENV: address}),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"train exited {result.returncode}\n{result.stderr[-3000:]}")
    return result


def peak_memory(process: subprocess.Popen) -> int:
    """A process's peak resident memory so far (Linux VmHWM), in bytes."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def limited_cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("limited_cluster")
    with dask_cluster(
        root, 2, worker_args=["--memory-limit", LIMIT], **{"0": WORKER_ENV, "1": WORKER_ENV}
    ) as cluster:
        yield cluster


def test_a_table_no_worker_could_hold_trains_on_two_limited_workers_and_is_served(
    limited_cluster, tmp_path
):
    from fastapi.testclient import TestClient

    from music_genre.serving.app import create_app
    from music_genre.serving.predict import Predictor
    from support.servers import as_request_songs

    project = dask_project(tmp_path, boosting_rounds=20, chunk_rows=5000, sample_rows=20000)
    size = wide_split(project / "split" / "train.parquet", 300_000, 300, 5000)
    assert size > LIMIT_BYTES, "the table must not fit in one worker's memory limit"
    stage(project, limited_cluster["address"])
    for worker in limited_cluster["workers"]:
        assert worker.poll() is None and peak_memory(worker) < LIMIT_BYTES
    card = json.loads((project / "out" / "model.json").read_text())
    assert card["training_data"]["fit_rows"] + card["training_data"]["validation_rows"] > 200_000
    assert card["params"]["train"]["backend"] == "dask" and card["boosting_rounds"] == 20
    model = project / "out" / "model.joblib"
    client = TestClient(create_app(Predictor.load(model), max_predict_songs=50))
    songs = prepared_songs(30, seed=9)
    answer = client.post("/predict", json={"songs": as_request_songs(songs)})
    assert answer.status_code == 200, answer.text
    assert {row["genre"] for row in answer.json()["predictions"]} <= set(card["classes"])


def test_dvc_exp_run_with_the_dask_backend_is_an_experiment_like_any_other(
    limited_cluster, synthetic_project, tmp_path
):
    project = clone_project(synthetic_project, tmp_path / "project")
    output = run(
        ["dvc", "exp", "run", "-n", "on-dask", "-S", "train.backend=dask"],
        project,
        **{SCHEDULER_ENV: limited_cluster["address"]},
    ).stdout
    for stage in ("train", "evaluate", "package"):
        assert f"Running stage '{stage}'" in output, output[-2000:]
    assert "Running stage 'segregate'" not in output  # only what the param change touches
    card = json.loads((project / "models" / "model.json").read_text())
    assert card["params"]["train"]["backend"] == "dask"
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    names = [exp.get("name") for entry in shown for exp in (entry.get("experiments") or [])]
    assert "on-dask" in names, names
    metrics = json.loads((project / "metrics" / "evaluate" / "metrics.json").read_text())
    assert metrics["roc_auc"] > 0.6
    for worker in limited_cluster["workers"]:
        assert worker.poll() is None  # the cluster served the fit and is still up
    # The MLflow Model the package stage wrote holds the experiment's model file.
    packaged = project / "models" / "mlflow" / "artifacts" / "model.joblib"
    assert packaged.read_bytes() == (project / "models" / "model.joblib").read_bytes()


def test_the_same_bytes_on_every_run_and_chunking(limited_cluster, tmp_path):
    digests = []
    for rows in (1000, 4000):
        project = dask_project(tmp_path / str(rows), boosting_rounds=15, chunk_rows=rows)
        prepared_songs(8000, seed=12).to_parquet(
            project / "split" / "train.parquet", index=False, row_group_size=3000
        )
        stage(project, limited_cluster["address"])
        metrics = (project / "out" / "metrics" / "metrics.json").read_text()
        digests.append((md5(project / "out" / "model.joblib"), metrics))
    assert digests[0] == digests[1]


def _stderr_lines(process: subprocess.Popen, lines: list[str]) -> None:
    for line in process.stderr:
        lines.append(line)


def test_a_worker_killed_mid_fit_fails_in_one_line_and_writes_nothing(tmp_path):
    project = dask_project(tmp_path, boosting_rounds=3000)
    prepared_songs(20_000, seed=13).to_parquet(project / "split" / "train.parquet", index=False)
    with dask_cluster(tmp_path / "cluster", 2) as cluster:
        process = subprocess.Popen(
            [sys.executable, *STAGE],
            cwd=project,
            env=tool_env(**{SCHEDULER_ENV: cluster["address"]}),
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        threading.Thread(target=_stderr_lines, args=(process, lines), daemon=True).start()
        deadline = time.monotonic() + 300
        while not any("fitting lightgbm on" in line for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        time.sleep(3)
        os.kill(cluster["workers"][1].pid, signal.SIGKILL)
        assert process.wait(timeout=120) == 1
    time.sleep(0.5)
    last = lines[-1].strip()
    assert last.startswith("train: error: Dask worker tcp://127.0.0.1:"), "".join(lines[-5:])
    assert last.endswith(
        "left the cluster during the LightGBM fit (killed, or out of memory?): nothing was "
        "written; run the stage again"
    )
    assert not (project / "out").exists()


def test_an_unreachable_scheduler_fails_in_one_line_and_writes_nothing(tmp_path, closed_port):
    project = dask_project(tmp_path, timeout_s=2)
    prepared_songs(500, seed=1).to_parquet(project / "split" / "train.parquet", index=False)
    result = stage(project, f"tcp://127.0.0.1:{closed_port}", check=False)
    assert result.returncode == 1
    assert last_line(result).startswith(
        f"train: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{closed_port} "
        f"(from ${SCHEDULER_ENV}) within 2 s: start it (`dask scheduler`) or fix the address"
    )
    assert not (project / "out").exists()


# Loaded by `dask worker --preload`: that worker cannot import this package.
WITHOUT_PACKAGE = """
import sys


class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "music_genre":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, _Absent())
"""


def test_a_worker_without_the_package_fails_in_one_line_naming_the_fix(tmp_path):
    from importlib import metadata

    preload = tmp_path / "without_package.py"
    preload.write_text(WITHOUT_PACKAGE)
    project = dask_project(tmp_path)
    prepared_songs(500, seed=1).to_parquet(project / "split" / "train.parquet", index=False)
    with dask_cluster(
        tmp_path / "cluster", 2, per_worker_args={1: ["--preload", str(preload)]}
    ) as cluster:
        result = stage(project, cluster["address"], check=False)
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith("train: error: Dask worker tcp://127.0.0.1:"), result.stderr[-2000:]
    assert line.endswith(
        f": No module named 'music_genre': install music-genre {metadata.version('music-genre')} "
        "with the pinned requirements (`pip install -r requirements.txt -e .` from this commit) "
        "in every worker's environment"
    )
    assert not (project / "out").exists()
