import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import as_request_songs
from music_genre.serving.api import create_app
from music_genre.features import OPTIONAL_COLUMNS
from music_genre.serving.predict import Predictor


@pytest.fixture(scope="module")
def predictor(small_model) -> Predictor:
    return Predictor.load(small_model)


@pytest.fixture(scope="module")
def client(predictor) -> TestClient:
    return TestClient(create_app(predictor, max_batch_rows=50, max_body_bytes=64_000))


def test_predict_matches_the_model(client, predictor, songs):
    body = {"songs": as_request_songs(songs.head(40))}
    response = client.post("/predict", json=body)
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    expected = predictor.predict_proba(songs.head(40))
    assert len(predictions) == 40
    for row, prediction in zip(expected, predictions, strict=True):
        assert prediction["genre"] == predictor.classes[int(row.argmax())]
        assert [prediction["probabilities"][g] for g in predictor.classes] == pytest.approx(row)


def test_optional_fields_may_be_null_absent_or_nan(client, songs):
    song = as_request_songs(songs.head(1))[0]
    absent = {k: v for k, v in song.items() if k not in OPTIONAL_COLUMNS}
    nulls = {**absent, "loudness": None, "title": None, "song_name": None}
    for variant in (absent, nulls):
        assert client.post("/predict", json={"songs": [variant]}).status_code == 200
    raw = json.dumps({"songs": [{**absent, "loudness": float("nan")}]})  # NaN token, as pandas
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"tempo": "fast"}, "songs.1.tempo"),
        ({"key": 4.5}, "songs.1.key"),
        ({"mood": "happy"}, "songs.1.mood"),
        ({"danceability": float("nan")}, "songs.1.danceability"),
    ],
)
def test_bad_song_is_422_naming_row_and_field(client, songs, change, where):
    good, bad = as_request_songs(songs.head(2))
    raw = json.dumps({"songs": [good, {**bad, **change}]})
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{where}:")


def test_missing_required_field(client, songs):
    song = as_request_songs(songs.head(1))[0]
    del song["tempo"]
    response = client.post("/predict", json={"songs": [song]})
    assert response.status_code == 422
    assert response.json()["error"] == "songs.0.tempo: Field required"


def test_malformed_json_and_empty_list(client):
    response = client.post(
        "/predict", content=b'{"songs": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith("request body is not valid JSON")
    empty = client.post("/predict", json={"songs": []})
    assert empty.status_code == 422 and empty.json()["error"].startswith("songs:")


def test_limits_give_413_and_the_server_keeps_serving(client, songs):
    too_many = {"songs": as_request_songs(songs.head(51))}
    response = client.post("/predict", json=too_many)
    assert response.status_code == 413 and "limit is 50" in response.json()["detail"]
    huge = b'{"songs": [' + b" " * 70_000 + b"]}"
    response = client.post("/predict", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than 64000 bytes" in response.json()["detail"]
    assert (
        client.post("/predict", json={"songs": as_request_songs(songs.head(1))}).status_code == 200
    )


def test_invocations_accepts_both_mlflow_formats_and_ignores_extra_columns(
    client, predictor, songs
):
    # The old boilerplate's clients send every column of the dataset, even the target.
    frame = songs.head(5).assign(genre="Emo", text_feature="ignored")
    expected = [predictor.classes[int(i)] for i in predictor.predict_proba(songs.head(5)).argmax(1)]
    split = json.loads(frame.to_json(orient="split", index=False))
    records = json.loads(frame.to_json(orient="records"))
    for payload in ({"dataframe_split": split}, {"dataframe_records": records}):
        response = client.post("/invocations", json=payload)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": expected}


def test_invocations_bad_payloads(client, songs):
    record = json.loads(songs.head(1).to_json(orient="records"))[0]
    del record["energy"]
    response = client.post("/invocations", json={"dataframe_records": [record]})
    assert response.status_code == 422
    assert response.json()["error"] == "records.0.energy: Field required"
    assert client.post("/invocations", json={"instances": []}).status_code == 422
    ragged = {"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}
    assert "row 0" in client.post("/invocations", json=ragged).json()["detail"]


def test_health_and_model_card(client, predictor):
    assert client.get("/health").json() == {"status": "ok"}
    card = client.get("/model").json()
    assert card["classes"] == predictor.classes
    assert card["model_sha256"] == predictor.card["model_sha256"]
    assert {"versions", "validation_metrics", "params", "git_revision"} <= set(card)
    assert np.isclose(
        sum(card["validation_metrics"].values()), sum(predictor.card["validation_metrics"].values())
    )
