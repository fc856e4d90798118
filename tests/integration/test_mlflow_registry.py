"""`music-genre register` against a real MLflow tracking server (SQLite store, local artifact
root, 127.0.0.1), and MLflow's own client loading the registered model by alias."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow import MlflowClient

from music_genre.data.contract import load_contract
from music_genre.experiments.register import REGISTERED_MODEL
from music_genre.modeling.store import fetch_model, load_model
from support.data import missing_real_data
from support.mlflow_tools import tracking_server
from support.project import PROJECT_ROOT
from support.servers import free_port

pytestmark = pytest.mark.mlflow

TEST_SPLIT = PROJECT_ROOT / "data" / "split" / "test.parquet"
CONTRACT = load_contract(PROJECT_ROOT / "contract.yaml")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not TEST_SPLIT.is_file():
        missing_real_data("data/split/test.parquet is missing: run `dvc repro`")
    with tracking_server(tmp_path_factory.mktemp("mlflow_server")) as uri:
        yield uri


def _register(uri: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "music_genre.cli", "register", *options],
        cwd=PROJECT_ROOT,
        check=False,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _versions(client: MlflowClient) -> list[str]:
    return sorted(v.version for v in client.search_model_versions(f"name='{REGISTERED_MODEL}'"))


def test_register_logs_tags_and_moves_the_alias(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    first = _register(server, "--alias", "champion")
    assert first.returncode == 0, first.stderr
    client = MlflowClient(server)
    version = client.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert version.tags["git_commit"] == commit
    assert len(version.tags["dvc_model_md5"]) == 32
    assert {"test_roc_auc", "test_accuracy"} <= set(version.tags)
    # MLflow prints links to the run first; the last line is the registered version.
    assert (
        first.stdout.strip().splitlines()[-1]
        == f"models:/{REGISTERED_MODEL}/{version.version} @champion"
    )

    second = _register(server, "--rev", commit, "--alias", "champion")
    assert second.returncode == 0, second.stderr
    moved = client.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    assert int(moved.version) == int(version.version) + 1

    songs = pd.read_parquet(TEST_SPLIT).sample(200, random_state=0)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@champion")
    with tempfile.TemporaryDirectory() as work:
        pipeline, card = load_model(fetch_model(commit, work, repo=str(PROJECT_ROOT)))
    expected = pipeline.predict_proba(CONTRACT.with_text_feature(songs)[card["input_columns"]])
    assert loaded.predict(songs) == [card["classes"][i] for i in expected.argmax(axis=1)]


def test_failures_are_one_line_and_register_nothing(server):
    client = MlflowClient(server)
    before = _versions(client)
    unknown = _register(server, "--rev", "no-such-revision")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().count("\n") == 0 and "no-such-revision" in unknown.stderr
    gone = _register(f"http://127.0.0.1:{free_port()}")
    assert gone.returncode == 1 and "does not answer" in gone.stderr
    assert gone.stderr.strip().count("\n") == 0
    # The server refuses the alias after the version exists: the version and run are undone.
    refused = _register(server, "--alias", "not a valid alias!")
    assert refused.returncode == 1, refused.stdout
    assert _versions(client) == before


def test_an_unset_tracking_uri_is_refused():
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [sys.executable, "-m", "music_genre.cli", "register"],
        cwd=PROJECT_ROOT,
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "MLFLOW_TRACKING_URI" in result.stderr
