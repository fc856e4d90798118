"""The package stage: a standard MLflow Model directory, the same bytes on every run, loaded by
MLflow's own pyfunc API with the pipeline's probabilities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import yaml
from mlflow.models import Model

from music_genre.core.errors import ModelIntegrityError
from music_genre.data.contract import load_contract
from music_genre.modeling.mlflow_model import PROBABILITIES_PARAM, signature
from music_genre.modeling.store import card_path_for, load_model
from music_genre.pipeline.package import (
    CREATED,
    RUNTIME_PACKAGES,
    code_files,
    model_uuid,
    package,
)
from support.project import PROJECT_ROOT

CONTRACT = load_contract(PROJECT_ROOT / "contract.yaml")
STAGE = PROJECT_ROOT / "stages" / "package.py"
FILES = {
    "MLmodel",
    "artifacts/model.joblib",
    "artifacts/model.json",
    "conda.yaml",
    "input_example.json",
    "python_env.yaml",
    "python_model.pkl",
    "requirements.txt",
    "serving_input_example.json",
}


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def packaged(small_model, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("package") / "mlflow"
    package(small_model, target, contract=CONTRACT)
    return target


def test_the_directory_is_a_standard_mlflow_model(packaged, small_model):
    tree = _tree(packaged)
    assert set(tree) >= FILES
    assert set(tree) - FILES == {f"code/{name}" for name in code_files()}
    model = Model.load(str(packaged / "MLmodel"))
    assert set(model.flavors) == {"python_function"}
    assert model.signature == signature(CONTRACT)
    card = json.loads(card_path_for(small_model).read_text())
    assert model.model_uuid == model_uuid(card)
    assert model.utc_time_created == CREATED
    assert model.metadata["model_sha256"] == card["model_sha256"]
    # The model and its card byte for byte: the card's sha256 vouches for the pickle.
    assert tree["artifacts/model.joblib"] == small_model.read_bytes()
    assert tree["artifacts/model.json"] == card_path_for(small_model).read_bytes()
    pins = dict(line.split("==") for line in tree["requirements.txt"].decode().split())
    assert list(pins) == list(RUNTIME_PACKAGES)
    assert pins["scikit-learn"] == card["versions"]["scikit-learn"]
    assert pins["lightgbm"] == card["versions"]["lightgbm"]
    env = yaml.safe_load(tree["python_env.yaml"])
    assert env["python"] == card["versions"]["python"]


def test_no_file_names_the_packaging_machine(packaged, small_model):
    for name, content in _tree(packaged).items():
        if name.endswith((".joblib", ".pkl")):
            continue
        text = content.decode()
        assert str(small_model.parent) not in text, name
        assert str(packaged.parent) not in text, name
        assert str(PROJECT_ROOT) not in text, name


def _stage(model: Path, output: Path, cwd: Path, threads: int) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MUSIC_GENRE_CONTRACT": str(PROJECT_ROOT / "contract.yaml"),
    }
    subprocess.run(
        [sys.executable, str(STAGE), str(model), str(output)],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


def test_the_stage_writes_the_same_bytes_on_every_run(packaged, small_model, tmp_path):
    # Two more runs: other folders, another working directory, one and two threads.
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    copy = elsewhere / small_model.name
    copy.write_bytes(small_model.read_bytes())
    card_path_for(copy).write_bytes(card_path_for(small_model).read_bytes())
    _stage(small_model, tmp_path / "one", PROJECT_ROOT, threads=1)
    _stage(copy, tmp_path / "two", elsewhere, threads=2)
    expected = _tree(packaged)
    assert _tree(tmp_path / "one") == expected
    assert _tree(tmp_path / "two") == expected


def test_a_second_run_replaces_the_directory_whole(small_model, tmp_path):
    target = tmp_path / "mlflow"
    target.mkdir()
    (target / "stale.txt").write_text("from an earlier run\n")
    package(small_model, target, contract=CONTRACT)
    assert not (target / "stale.txt").exists()
    assert (target / "MLmodel").is_file()
    assert [path.name for path in tmp_path.iterdir()] == ["mlflow"]


def test_a_model_that_does_not_match_its_card_is_not_packaged(small_model, tmp_path):
    model = tmp_path / "model.joblib"
    model.write_bytes(small_model.read_bytes() + b"\0")
    card_path_for(model).write_bytes(card_path_for(small_model).read_bytes())
    with pytest.raises(ModelIntegrityError, match="does not match"):
        package(model, tmp_path / "mlflow", contract=CONTRACT)
    assert not (tmp_path / "mlflow").exists()


def test_mlflow_loads_it_with_the_pipeline_s_probabilities(packaged, small_model, songs):
    pipeline, card = load_model(small_model)
    expected = pipeline.predict_proba(CONTRACT.with_text_feature(songs)[card["input_columns"]])
    loaded = mlflow.pyfunc.load_model(str(packaged))
    table = loaded.predict(songs, params={PROBABILITIES_PARAM: True})
    probabilities = [CONTRACT.probability_column(label) for label in card["classes"]]
    assert list(table.columns) == [CONTRACT.prediction_column, *probabilities]
    np.testing.assert_allclose(table[probabilities].to_numpy(), expected, rtol=0, atol=1e-12)
    labels = loaded.predict(songs)
    assert labels == table[CONTRACT.prediction_column].tolist()
    assert labels == [card["classes"][i] for i in expected.argmax(axis=1)]


def test_a_swapped_pickle_is_refused_at_load(packaged, tmp_path):
    copy = tmp_path / "mlflow"
    for name, content in _tree(packaged).items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(content)
    with (copy / "artifacts" / "model.joblib").open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="refusing to unpickle"):
        mlflow.pyfunc.load_model(str(copy))


LOAD_WITHOUT_THE_PACKAGE = """
import sys
sys.path = [p for p in sys.path if not (p and __import__("os").path.isdir(p + "/music_genre"))]
sys.modules.pop("music_genre", None)
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
import music_genre
assert music_genre.__file__.startswith(sys.argv[1]), music_genre.__file__
print(" ".join(model.predict(pd.read_json(sys.argv[2], orient="split"))))
"""

LOAD_BEFORE_THE_PACKAGE = """
import sys
import mlflow.pyfunc
mlflow.pyfunc.load_model(sys.argv[1])
import music_genre.serving.routes  # not in the MLflow Model's copy: from the installed package
print(music_genre.serving.routes.__file__)
"""


def test_the_model_needs_no_install_of_the_package(packaged, songs, tmp_path):
    rows = tmp_path / "rows.json"
    songs.head(20).to_json(rows, orient="split", index=False)
    without = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_THE_PACKAGE, str(packaged), str(rows)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = mlflow.pyfunc.load_model(str(packaged))
    assert without.stdout.split() == " ".join(loaded.predict(songs.head(20))).split()
    # Where the package is installed, its other modules stay importable after the load.
    before = subprocess.run(
        [sys.executable, "-c", LOAD_BEFORE_THE_PACKAGE, str(packaged)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert not before.stdout.strip().startswith(str(packaged))


def test_the_copied_code_is_what_the_pyfunc_module_imports():
    files = code_files()
    assert "music_genre/modeling/mlflow_model.py" in files
    assert "music_genre/modeling/text.py" in files  # the pickled vectorizer's class
    assert not any(name.startswith("music_genre/serving/") for name in files)
    stage = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]["package"]
    deps = set(stage["deps"])
    assert {f"src/{name}" for name in files if not name.endswith("__init__.py")} <= deps
