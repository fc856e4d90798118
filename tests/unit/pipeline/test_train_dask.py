"""pipeline.train with train.backend dask, on an in-process cluster ($DASK_SCHEDULER_ADDRESS):
the outputs the local backend writes, a card of the same shape, a model that serving,
explanations and the MLflow export load; nothing written when the cluster is unreachable."""

import csv
import json

import pytest
from fastapi.testclient import TestClient

from music_genre.core.cluster import SCHEDULER_ENV, ClusterError
from music_genre.modeling.store import load_model
from music_genre.pipeline.train import train
from music_genre.serving.predict import Predictor
from support.data import songs_contract, synthetic_songs
from support.local_cluster import in_process_cluster, split_file
from support.models import small_model_params
from support.servers import as_request_songs


def _params(backend):
    params = small_model_params()
    lightgbm = {**params.train.lightgbm, "n_estimators": 30}
    # The dask backend does not refit; the local model it is compared with is not refitted.
    refit = "same_rounds" if backend == "dask" else "none"
    update = {"backend": backend, "lightgbm": lightgbm, "refit": refit}
    return params.model_copy(update={"train": params.train.model_copy(update=update)})


def _train(directory, path, backend):
    outputs = [str(directory / name) for name in ("model.joblib", "metrics", "plots")]
    scores = train(_params(backend), str(path), *outputs, contract=songs_contract())
    return scores, directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_dask")
    path = split_file(root, rows=2500, row_group=800)
    (root / "local").mkdir()
    (root / "dask").mkdir()
    local = _train(root / "local", path, "local")
    with in_process_cluster() as client, pytest.MonkeyPatch.context() as patch:
        patch.setenv(SCHEDULER_ENV, client.scheduler.address)
        distributed = _train(root / "dask", path, "dask")
    return local, distributed


def _curve(directory, name):
    path = directory / "plots" / "metrics" / name / "multi_logloss.tsv"
    with path.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_the_dask_backend_writes_what_the_local_one_writes(trained):
    (local_scores, local), (scores, distributed) = trained
    local_card = json.loads((local / "model.json").read_text())
    card = json.loads((distributed / "model.json").read_text())
    assert sorted(card) == sorted(local_card)
    assert card["training_data"] == local_card["training_data"]  # the same split, reported alike
    assert card["classes"] == local_card["classes"] and card["contract"] == local_card["contract"]
    assert card["params"]["train"]["backend"] == "dask" and card["params"]["dask"]["workers"] == 2
    # Asked to refit, the dask backend does not, and its card says nothing of a refit.
    assert "refit" not in card and "refit" not in card["params"]["train"]
    # A local model's card and params log are what they were before the Dask backend.
    assert "backend" not in local_card["params"]["train"] and "dask" not in local_card["params"]
    assert "backend" not in (local / "metrics" / "params.yaml").read_text()
    metrics = json.loads((distributed / "metrics" / "metrics.json").read_text())
    assert sorted(metrics) == sorted(json.loads((local / "metrics" / "metrics.json").read_text()))
    assert (
        metrics["boosting_rounds"]
        == card["boosting_rounds"]
        == len(_curve(distributed, "validation"))
    )
    assert len(_curve(distributed, "training")) == card["boosting_rounds"]
    assert (distributed / "plots" / "sklearn" / "confusion_matrix.json").is_file()
    assert abs(scores["roc_auc"] - local_scores["roc_auc"]) < 0.01


def test_the_dask_model_is_served_explained_and_exported_like_any_other(trained, tmp_path):
    from music_genre.pipeline.package import package
    from music_genre.serving.app import create_app

    _, (_, distributed) = trained
    model_path = distributed / "model.joblib"
    _, card = load_model(model_path)
    songs = synthetic_songs(20, seed=5)
    client = TestClient(create_app(Predictor.load(model_path), max_predict_songs=50))
    body = {songs_contract().name: as_request_songs(songs)}
    answer = client.post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    predicted = [row[songs_contract().target] for row in answer.json()["predictions"]]
    assert set(predicted) <= set(card["classes"]) and len(predicted) == 20
    explained = client.post(
        "/explain", json={songs_contract().name: body[songs_contract().name][:2]}
    )
    assert explained.status_code == 200, explained.text
    package(model_path, tmp_path / "mlflow")
    assert (tmp_path / "mlflow" / "MLmodel").is_file()


def test_an_unreachable_scheduler_is_one_line_and_nothing_is_written(
    tmp_path, closed_port, monkeypatch
):
    path = split_file(tmp_path, rows=300)
    monkeypatch.setenv(SCHEDULER_ENV, f"tcp://127.0.0.1:{closed_port}")
    params = _params("dask")
    params = params.model_copy(update={"dask": params.dask.model_copy(update={"timeout_s": 0.5})})
    out = tmp_path / "out"
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):
        train(
            params,
            str(path),
            str(out / "model.joblib"),
            str(out / "metrics"),
            str(out / "plots"),
            contract=songs_contract(),
        )
    assert not out.exists()


def test_the_dask_backend_fits_the_text_statistics_block_too(tmp_path):
    """tfidf.statistics is stateless preprocessing: the workers compute it on their chunks and
    the model has the block, scoring as the local backend's does."""
    path = split_file(tmp_path, rows=1500, row_group=600)
    found = {}
    for backend in ("local", "dask"):
        params = _params(backend)
        params = params.model_copy(
            update={"tfidf": params.tfidf.model_copy(update={"statistics": True})}
        )
        directory = tmp_path / backend
        directory.mkdir()
        outputs = [str(directory / name) for name in ("model.joblib", "metrics", "plots")]
        with in_process_cluster() as client, pytest.MonkeyPatch.context() as patch:
            patch.setenv(SCHEDULER_ENV, client.scheduler.address)
            scores = train(params, str(path), *outputs, contract=songs_contract())
        predictor = Predictor.load(directory / "model.joblib")
        blocks = [name for name, _, _ in predictor.pipeline[0].transformers_]
        found[backend] = (scores["roc_auc"], blocks)
    assert found["dask"][1] == found["local"][1] == ["num", "cat", "text", "stat"]
    assert abs(found["dask"][0] - found["local"][0]) < 0.01
