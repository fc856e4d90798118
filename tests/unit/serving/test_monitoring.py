import json

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from music_genre.core.errors import DataFileError, ParamsError
from music_genre.data.drift import bins_from_quantiles
from music_genre.serving.monitoring import Monitor, _Window, metric_name
from music_genre.serving.reference import DriftReference, DriftSettings
from support.data import songs_contract

CLASSES = ["a", "b", "c"]
CONTRACT = songs_contract()
NUMERIC_FEATURES = CONTRACT.numeric_features
GENRE_COLUMN = "predicted_genre"


def _monitor(version: str = "1", drift: DriftSettings | None = None) -> Monitor:
    return Monitor("lightgbm", "LGBMClassifier", version, "abc", CLASSES, CONTRACT, drift=drift)


def test_window_keeps_the_last_songs_and_returns_what_it_evicts():
    window = _Window(4, 1)
    added, evicted = window.push(np.array([[1], [2], [3]], dtype=np.int16))
    assert added.ravel().tolist() == [1, 2, 3] and evicted.size == 0
    _, evicted = window.push(np.array([[4], [5], [6]], dtype=np.int16))
    assert evicted.ravel().tolist() == [1, 2]
    assert sorted(window.ring.ravel().tolist()) == [3, 4, 5, 6]
    added, evicted = window.push(np.arange(10, dtype=np.int16).reshape(-1, 1))
    assert added.ravel().tolist() == [6, 7, 8, 9]  # only the last 4 of a larger batch
    assert sorted(evicted.ravel().tolist()) == [3, 4, 5, 6]
    assert sorted(window.ring.ravel().tolist()) == [6, 7, 8, 9]


def _reference() -> DriftReference:
    bins = {feature: bins_from_quantiles(np.linspace(0, 1, 100)) for feature in NUMERIC_FEATURES}
    return DriftReference(bins, CLASSES, np.array([0.5, 0.3, 0.2]), {"features": "test"})


def test_the_names_come_from_the_contract():
    assert CONTRACT.prediction_column == GENRE_COLUMN
    assert metric_name("genre") == "genre" and metric_name("body mass") == "body_mass"
    assert metric_name("2nd") == "x_2nd" and metric_name("__x") == "x___x"


def _song(value: float) -> dict:
    return {feature: value for feature in NUMERIC_FEATURES} | {"loudness": None}


def _families(monitor: Monitor) -> dict:
    body, _ = monitor.exposition()
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def test_the_window_counts_the_last_songs_per_bin_and_genre():
    monitor = _monitor(drift=DriftSettings(_reference(), window=10, threshold=0.1))
    proba = np.array([[0.1, 0.8, 0.1]])
    for _ in range(15):
        monitor.predicted("/predict", [_song(0.05)], proba)  # bin 0, genre b
    monitor.predicted("/predict", [_song(0.95)] * 3, np.repeat([[0.9, 0.05, 0.05]], 3, axis=0))
    report = monitor.drift_report()
    tempo = report["features"]["tempo"]
    assert tempo["songs"] == 10  # the window, not the 18 songs seen
    assert report["features"]["loudness"]["songs"] == 0  # missing values are not counted
    assert report[GENRE_COLUMN]["songs"] == 10
    samples = {
        (s.labels["column"], s.labels["bin"]): s.value
        for s in _families(monitor)["music_genre_drift_window_songs"].samples
    }
    assert samples[("tempo", "0")] == 7 and samples[("tempo", "9")] == 3
    assert samples[(GENRE_COLUMN, "b")] == 7 and samples[(GENRE_COLUMN, "a")] == 3
    assert tempo["drifting"] is None  # 10 songs cannot tell (songs_needed)
    assert tempo["songs_needed"] > 10


def test_drift_verdict_once_the_window_holds_enough_songs():
    monitor = _monitor(drift=DriftSettings(_reference(), window=600, threshold=0.1))
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, 600)
    songs = [_song(v) | {"tempo": min(v + 0.3, 1.0)} for v in values]
    proba = rng.dirichlet([5, 3, 2], 600)
    monitor.predicted("/predict", songs, proba)
    report = monitor.drift_report()
    assert report["features"]["tempo"]["drifting"] is True
    assert not any(
        column["drifting"] for name, column in report["features"].items() if name != "tempo"
    )
    families = _families(monitor)
    drifting = {s.labels["column"]: s.value for s in families["music_genre_drift_drifting"].samples}
    assert drifting["tempo"] == 1.0 and drifting["energy"] == 0.0
    assert "loudness" not in drifting  # no verdict without songs
    assert families["music_genre_drift_threshold"].samples[0].value == 0.1


def test_counters_and_model_info():
    monitor = _monitor("1.2")
    monitor.request("/predict", 200, 0.004)
    monitor.request("/predict", 422, 0.001)
    monitor.predicted("/predict", [_song(0.5)] * 4, np.array([[1, 0, 0]] * 3 + [[0, 0, 1]]))
    families = _families(monitor)
    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["music_genre_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests == {("/predict", "200"): 1, ("/predict", "422"): 1}
    genres = {
        s.labels["genre"]: s.value
        for s in families["music_genre_predictions"].samples
        if s.name.endswith("_total")
    }
    assert genres == {"a": 3, "b": 0, "c": 1}
    info = families["music_genre_model_info"].samples[0]
    assert info.labels == {
        "model": "lightgbm", "estimator": "LGBMClassifier", "version": "1.2", "model_sha256": "abc"
    }  # fmt: skip
    assert "music_genre_drift_psi" not in families  # drift off


def test_bad_settings_and_references_are_one_line(tmp_path):
    with pytest.raises(ParamsError, match="--drift-window 0"):
        DriftSettings(_reference(), window=0)
    with pytest.raises(ParamsError, match="--drift-threshold"):
        DriftSettings(_reference(), threshold=-1)
    profile = tmp_path / "profile.json"
    mix = tmp_path / "per_genre.json"
    with pytest.raises(DataFileError, match=r"profile.json: file not found"):
        DriftReference.load(profile, mix, CONTRACT, CLASSES)
    profile.write_text('{"numeric": {"tempo": [1, 2]}}')
    with pytest.raises(DataFileError, match=r"'numeric.danceability' is missing"):
        DriftReference.load(profile, mix, CONTRACT, CLASSES)
    profile.write_text(json.dumps({"numeric": {f: [1, 2, 3] for f in NUMERIC_FEATURES}}))
    mix.write_text('[{"genre": "a", "support": 3}]')
    with pytest.raises(DataFileError, match=r"per-class rows with 'genre' and 'predicted' counts"):
        DriftReference.load(profile, mix, CONTRACT, CLASSES)
    mix.write_text('[{"genre": "a", "predicted": 3}]')
    with pytest.raises(DataFileError, match=r"not the model's classes"):
        DriftReference.load(profile, mix, CONTRACT, CLASSES)
    mix.write_text(json.dumps([{"genre": g, "predicted": 2} for g in CLASSES]))
    reference = DriftReference.load(profile, mix, CONTRACT, CLASSES)
    assert reference.class_shares.tolist() == [1 / 3] * 3
    assert reference.sources == {"features": str(profile), GENRE_COLUMN: str(mix)}
