"""serving.server: what serve hands its worker processes (WorkerSettings, through the environment)
is what each worker makes its app from."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from music_genre.serving.predict import Predictor
from music_genre.serving.server import SETTINGS_PREFIX, WorkerSettings, app_from_environment


@pytest.fixture
def environment(monkeypatch):
    """Every settings variable noted for restoring (and unset), so a test may export freely."""
    for name in WorkerSettings.model_fields:
        monkeypatch.setenv(f"{SETTINGS_PREFIX}{name.upper()}", "")
        monkeypatch.delenv(f"{SETTINGS_PREFIX}{name.upper()}")
    return monkeypatch


def test_settings_read_back_from_the_environment_are_the_ones_exported(environment, tmp_path):
    sent = WorkerSettings(
        model=tmp_path / "model.joblib",
        max_predict_songs=7,
        max_explain_songs=3,
        max_body_bytes=999,
        monitoring=False,
        workers=3,
        reference_profile=tmp_path / "profile.json",
        class_reference=tmp_path / "per_genre.json",
        drift_window=11,
        drift_threshold=0.25,
    )
    sent.export()
    assert WorkerSettings() == sent
    # References left out of a later export are gone, not left over from the earlier one.
    without_drift = sent.model_copy(update={"reference_profile": None, "class_reference": None})
    without_drift.export()
    received = WorkerSettings()
    assert received == without_drift
    assert received.drift(Predictor(None, {"classes": ["a", "b", "c"]})) is None


def test_a_worker_makes_its_app_from_the_exported_settings(environment, small_model):
    WorkerSettings(
        model=small_model, max_predict_songs=7, max_explain_songs=3, max_body_bytes=5000
    ).export()
    client = TestClient(app_from_environment())
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["songs"]["maxItems"] == 7
    assert schemas["ExplainRequest"]["properties"]["songs"]["maxItems"] == 3
    too_large = client.post(
        "/predict", content=b" " * 5001, headers={"content-type": "application/json"}
    )
    assert too_large.status_code == 413
    assert client.get("/metrics").status_code == 200  # monitoring: the default
    assert client.get("/drift").status_code == 404  # no references exported: no drift
