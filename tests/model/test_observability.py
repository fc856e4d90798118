"""The server's operator-facing behaviour on the workspace model and the real test split:
live drift flags exactly the shifted feature, and explanations decompose /predict exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from music_genre.serving.app import create_app
from music_genre.serving.limits import MAX_EXPLAIN_SONGS
from music_genre.serving.predict import Predictor
from music_genre.serving.reference import DriftSettings
from support.data import missing_real_data
from support.project import PROJECT_ROOT
from support.servers import as_request_songs

MODEL = PROJECT_ROOT / "models" / "model.joblib"
TEST_SPLIT = PROJECT_ROOT / "data" / "split" / "test.parquet"
WINDOW = 1000


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    if not MODEL.is_file() or not TEST_SPLIT.is_file():
        missing_real_data("models/model.joblib or the test split is missing: run `dvc repro`")
    return Predictor.load(MODEL)


@pytest.fixture(scope="module")
def real_songs() -> list[dict]:
    test = pd.read_parquet(TEST_SPLIT).sample(2 * WINDOW, random_state=0)
    return as_request_songs(test)


def _client(predictor: Predictor) -> TestClient:
    drift = DriftSettings.load(
        PROJECT_ROOT / "data" / "reference_profile.json",
        PROJECT_ROOT / "plots" / "evaluate" / "custom" / "per_genre.json",
        predictor.contract,
        predictor.classes,
        window=WINDOW,
        threshold=0.1,
    )
    return TestClient(create_app(predictor, drift=drift))


def _drifting(report: dict) -> set[str]:
    return {name for name, column in report["features"].items() if column["drifting"]}


def test_real_songs_drift_on_nothing_and_shifted_tempo_on_tempo_alone(predictor, real_songs):
    """Test songs are a sample of the reference; tempo + 40 BPM moves only tempo's bins."""
    client = _client(predictor)
    assert client.post("/predict", json={"songs": real_songs[:WINDOW]}).status_code == 200
    report = client.get("/drift").json()
    assert all(column["drifting"] is False for column in report["features"].values())
    assert report["predicted_genre"]["drifting"] is False
    # The contract caps tempo at 250 BPM; the few faster songs stay at the cap.
    shifted = [{**song, "tempo": min(song["tempo"] + 40, 250.0)} for song in real_songs[WINDOW:]]
    for start in range(0, WINDOW, 100):  # the window slides over the earlier songs
        response = client.post("/predict", json={"songs": shifted[start : start + 100]})
        assert response.status_code == 200
    report = client.get("/drift").json()
    assert _drifting(report) == {"tempo"}
    assert report["features"]["tempo"]["statistic"] > 1.0
    assert report["features"]["tempo"]["songs"] == WINDOW


def test_explanations_reproduce_predict_on_real_songs(predictor, real_songs):
    """TreeSHAP is exact: contributions + base = raw score; softmax(raw) = /predict's proba."""
    client = _client(predictor)
    songs = real_songs[:200]
    explained = [
        explanation
        for start in range(0, len(songs), MAX_EXPLAIN_SONGS)  # the server's cap per request
        for explanation in client.post(
            "/explain", json={"songs": songs[start : start + MAX_EXPLAIN_SONGS]}
        ).json()["explanations"]
    ]
    predicted = client.post("/predict", json={"songs": songs}).json()["predictions"]
    assert len(explained) == len(predicted) == len(songs)
    classes = predictor.classes
    for explanation, prediction in zip(explained, predicted, strict=True):
        raw = np.array(
            [
                sum(explanation["contributions"][g].values()) + explanation["base_values"][g]
                for g in classes
            ]
        )
        np.testing.assert_allclose(raw, [explanation["raw_scores"][g] for g in classes], atol=1e-9)
        proba = np.exp(raw - raw.max())
        proba /= proba.sum()
        np.testing.assert_allclose(
            proba, [prediction["probabilities"][g] for g in classes], atol=1e-6
        )
        assert explanation["genre"] == prediction["genre"]
    # One song alone is explained as in company (each row on its own).
    alone = client.post("/explain", json={"songs": songs[7:8]}).json()["explanations"][0]
    assert alone == explained[7]
