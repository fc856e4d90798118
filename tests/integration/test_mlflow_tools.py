"""The workspace's model as an MLflow Model, through MLflow's own tools, against ours: the pyfunc
API against `music-genre predict`, `mlflow models predict` on files, and `mlflow models serve`
against `music-genre serve` on 1,000 real test songs in every body form."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import httpx
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from music_genre.data.contract import load_contract
from music_genre.modeling.mlflow_model import PROBABILITIES_PARAM
from music_genre.pipeline.package import package
from support.data import missing_real_data
from support.mlflow_tools import mlflow_cli, mlflow_serving
from support.project import PROJECT_ROOT
from support.servers import serving

pytestmark = pytest.mark.mlflow

MODEL = PROJECT_ROOT / "models" / "model.joblib"
TEST_SPLIT = PROJECT_ROOT / "data" / "split" / "test.parquet"
CONTRACT = load_contract(PROJECT_ROOT / "contract.yaml")
SONGS = 1000
TOLERANCE = 1e-9


def _required(path: Path) -> Path:
    if not path.is_file():
        missing_real_data(f"{path.relative_to(PROJECT_ROOT)} is missing: run `dvc repro`")
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("mlflow_model") / "mlflow"
    package(_required(MODEL), target, contract=CONTRACT)
    return target


@pytest.fixture(scope="module")
def test_songs() -> pd.DataFrame:
    return pd.read_parquet(_required(TEST_SPLIT))


@pytest.fixture(scope="module")
def sample(test_songs) -> pd.DataFrame:
    """SONGS test songs drawn across the split (its first rows share an empty text column,
    which a CSV holds as no value at all)."""
    return test_songs.sample(SONGS, random_state=0).reset_index(drop=True)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Input columns as a JSON client sends them (NaN -> null)."""
    rows = frame[list(CONTRACT.input_columns)].to_dict("records")
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in rows
    ]


def test_the_pyfunc_gives_music_genre_predict_s_probabilities(model_dir, test_songs, tmp_path):
    output = tmp_path / "predictions.parquet"
    subprocess.run(
        [
            *(sys.executable, "-m", "music_genre.cli", "predict", "--model", str(MODEL)),
            *("--input", str(TEST_SPLIT), "--output", str(output), "--probabilities"),
        ],
        check=True,
        capture_output=True,
    )
    ours = pd.read_parquet(output)
    theirs = mlflow.pyfunc.load_model(str(model_dir)).predict(
        test_songs, params={PROBABILITIES_PARAM: True}
    )
    assert list(theirs.columns) == list(ours.columns)
    assert theirs[CONTRACT.prediction_column].tolist() == ours[CONTRACT.prediction_column].tolist()
    difference = np.abs(theirs.iloc[:, 1:].to_numpy() - ours.iloc[:, 1:].to_numpy()).max()
    assert difference <= TOLERANCE


def _mlflow_predict(model_dir: Path, path: Path, content_type: str, output: Path) -> list:
    subprocess.run(
        [
            *(mlflow_cli(), "models", "predict", "-m", str(model_dir), "-i", str(path)),
            *("-t", content_type, "--env-manager", "local", "-o", str(output)),
        ],
        check=True,
        capture_output=True,
    )
    return json.loads(output.read_text())["predictions"]


def test_mlflow_models_predict_reads_csv_and_json_files(model_dir, sample, tmp_path):
    rows = sample.head(300)
    expected = mlflow.pyfunc.load_model(str(model_dir)).predict(rows)
    csv = tmp_path / "songs.csv"
    rows.to_csv(csv, index=False)
    assert _mlflow_predict(model_dir, csv, "csv", tmp_path / "from_csv.json") == expected
    body = tmp_path / "songs.json"
    body.write_text(json.dumps({"dataframe_records": _records(rows)}))
    assert _mlflow_predict(model_dir, body, "json", tmp_path / "from_json.json") == expected


def _bodies(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    records = _records(frame)
    columns = list(CONTRACT.input_columns)
    split = {"columns": columns, "data": [[row[name] for name in columns] for row in records]}
    return {
        "dataframe_split": ("application/json", json.dumps({"dataframe_split": split})),
        "dataframe_records": ("application/json", json.dumps({"dataframe_records": records})),
        "instances": ("application/json", json.dumps({"instances": records})),
        "csv": ("text/csv", frame[columns].to_csv(index=False)),
    }


def _post(base: str, body: tuple[str, str], path: str = "/invocations") -> httpx.Response:
    media_type, content = body
    return httpx.post(
        f"{base}{path}", content=content, headers={"Content-Type": media_type}, timeout=120
    )


@pytest.fixture(scope="module")
def servers(model_dir):
    with serving(MODEL) as ours, mlflow_serving(model_dir) as theirs:
        yield ours, theirs


def test_mlflow_models_serve_answers_as_music_genre_serve(servers, sample):
    ours, theirs = servers
    assert httpx.get(f"{theirs}/ping").status_code == 200
    assert httpx.get(f"{theirs}/version").text.strip() == mlflow.__version__
    rows = sample
    for form, body in _bodies(rows).items():
        mine, mlflows = _post(ours, body), _post(theirs, body)
        assert mine.status_code == mlflows.status_code == 200, (form, mlflows.text[:300])
        assert mlflows.json() == mine.json(), form
    # The probabilities: MLflow's with the `probabilities` param, ours from /predict.
    songs = _records(rows)
    with_params = {"dataframe_records": songs, "params": {PROBABILITIES_PARAM: True}}
    theirs_rows = _post(theirs, ("application/json", json.dumps(with_params))).json()
    predicted = _post(ours, ("application/json", json.dumps({CONTRACT.name: songs})), "/predict")
    for mine_row, their_row in zip(
        predicted.json()["predictions"], theirs_rows["predictions"], strict=True
    ):
        for label, probability in mine_row["probabilities"].items():
            assert abs(their_row[CONTRACT.probability_column(label)] - probability) <= TOLERANCE


def test_optional_columns_may_be_left_out_and_bad_values_get_a_4xx(servers, sample):
    ours, theirs = servers
    rows = sample.head(50)
    without = rows.drop(columns=list(CONTRACT.optional_columns))
    body = ("text/csv", without[list(CONTRACT.required_input_columns)].to_csv(index=False))
    mine, mlflows = _post(ours, body), _post(theirs, body)
    assert mlflows.status_code == 200 and mlflows.json() == mine.json()
    song = _records(rows.head(1))[0]
    first_float = next(
        n for n in CONTRACT.required_input_columns if CONTRACT.raw_dtypes[n] == "float64"
    )
    first_int = next(
        n for n in CONTRACT.required_input_columns if CONTRACT.raw_dtypes[n] == "int64"
    )
    ranged, (_, high) = next(iter(CONTRACT.value_ranges.items()))
    bad = {
        "a text for a number": {**song, first_float: "loud"},
        "an empty required value": {**song, first_float: None},
        "a missing required column": {k: v for k, v in song.items() if k != first_int},
        "a value above its range": {**song, ranged: high + 1},
        "a text for an integer": {**song, first_int: "five"},
    }
    for problem, record in bad.items():
        response = _post(theirs, ("application/json", json.dumps({"dataframe_records": [record]})))
        assert 400 <= response.status_code < 500, (problem, response.status_code, response.text)
    assert _post(theirs, ("application/json", "{not json")).status_code == 400
