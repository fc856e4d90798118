import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from music_genre.serving.app import create_app
from music_genre.serving.predict import Predictor
from support.data import prepared_songs, songs_contract
from support.servers import as_request_songs


@pytest.fixture(scope="module")
def predictor(small_model) -> Predictor:
    return Predictor.load(small_model)


@pytest.fixture(scope="module")
def client(predictor) -> TestClient:
    return TestClient(
        create_app(predictor, max_predict_songs=50, max_body_bytes=64_000, max_explain_songs=20)
    )


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
    absent = {k: v for k, v in song.items() if k not in songs_contract().optional_columns}
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


def test_limits_and_the_server_keeps_serving(client, songs):
    too_many = {"songs": as_request_songs(songs.head(51))}
    response = client.post("/predict", json=too_many)
    assert response.status_code == 422
    assert response.json()["error"] == (
        "songs: at most 50 songs per /predict request (the server's cap), got 51"
    )
    records = {"inputs": json.loads(songs.head(51).to_json(orient="records"))}
    response = client.post("/invocations", json=records)
    assert response.status_code == 422
    assert response.json()["error"] == (
        "inputs: at most 50 songs per /invocations request (the server's cap), got 51"
    )
    huge = b'{"songs": [' + b" " * 70_000 + b"]}"
    response = client.post("/predict", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than 64000 bytes" in response.json()["error"]
    assert (
        client.post("/predict", json={"songs": as_request_songs(songs.head(1))}).status_code == 200
    )


def _mlflow_bodies(frame):
    """The same rows in every input form of MLflow's scoring protocol: (content type, body)."""
    records = json.loads(frame.to_json(orient="records"))
    split = json.loads(frame.to_json(orient="split", index=False))
    return {
        "dataframe_split": ("application/json", json.dumps({"dataframe_split": split})),
        "dataframe_records": ("application/json", json.dumps({"dataframe_records": records})),
        "instances": ("application/json", json.dumps({"instances": records})),
        "inputs": ("application/json", json.dumps({"inputs": records})),
        "csv": ("text/csv", frame.to_csv(index=False)),
    }


@pytest.mark.parametrize(
    "form", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"]
)
def test_invocations_takes_every_mlflow_form_and_ignores_other_columns(
    client, predictor, songs, form
):
    # The old boilerplate's clients send every column of the dataset, even the target; a
    # CSV from pandas leaves a missing loudness or title empty.
    frame = songs.head(8).assign(genre="Emo", text_feature="ignored")
    frame.loc[frame.index[1], "loudness"] = float("nan")
    frame.loc[frame.index[2], "title"] = None
    proba = predictor.predict_proba(frame.drop(columns=["genre", "text_feature"]))
    expected = [predictor.classes[int(i)] for i in proba.argmax(1)]
    content_type, body = _mlflow_bodies(frame)[form]
    response = client.post("/invocations", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/invocations", "text/plain"),
        ("/invocations", "application/x-www-form-urlencoded"),
        ("/invocations", None),
        ("/predict", "text/csv"),
    ],
)
def test_other_content_types_get_415_in_one_line(client, path, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(path, content=b"danceability\n0.5\n", headers=headers)
    assert response.status_code == 415
    body = response.json()
    assert body["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert body["error"].startswith(f"content type '{content_type or 'none'}' is not supported")
    assert "\n" not in body["error"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tempo": 4e283}, "inputs.1.tempo: 4e+283 is outside the allowed range [50.0, 250.0]"),
        ({"danceability": -3e16}, "inputs.1.danceability: -3e+16 is outside the allowed range"),
        ({"duration_ms": 2**70}, "inputs.1.duration_ms: 1180591620717411303424 is outside"),
        ({"key": -(2**64)}, "inputs.1.key: -18446744073709551616 is outside the allowed range"),
        ({"loudness": 1e305}, "inputs.1.loudness: 1e+305 is outside the allowed range [-35.0"),
        ({"time_signature": 9}, "inputs.1.time_signature: 9 is outside the allowed range [1, 5]"),
        ({"valence": "high"}, "inputs.1.valence: Input should be a valid number"),
        ({"key": 2.5}, "inputs.1.key: Input should be a valid integer"),
    ],
)
def test_values_outside_the_data_contract_are_422_naming_row_field_and_range(
    client, predictor, songs, change, message
):
    records = json.loads(songs.head(2).to_json(orient="records"))
    records[1].update(change)
    response = client.post("/invocations", json={"inputs": records})
    assert response.status_code == 422
    body = response.json()
    assert body["error"].startswith(message), body["error"]
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["detail"][0]["loc"][:2] == ["inputs", 1]
    # The same song sent to /predict is held to the same ranges.
    song = {k: v for k, v in records[1].items() if k in predictor.inputs.columns}
    predicted = client.post("/predict", json={"songs": [song]})
    assert predicted.status_code == 422
    assert predicted.json()["error"].startswith("songs.0.")


def test_ranges_come_from_the_data_contract(client, predictor):
    ranges = songs_contract().value_ranges
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("Song", "Record"):
        assert set(schemas[model]["properties"]) >= set(predictor.inputs.columns)
        for name, spec in schemas[model]["properties"].items():
            bounds = next((s for s in spec.get("anyOf", [spec]) if "minimum" in s), None)
            if name in predictor.inputs.ignored:  # never read: any value, documented as ignored
                assert set(spec) == {"title", "description"} and "ignored" in spec["description"]
            elif name in ranges:
                assert (bounds["minimum"], bounds["maximum"]) == ranges[name], name


def test_non_finite_numbers_and_bad_csv_are_422(client, songs):
    raw = json.dumps({"inputs": json.loads(songs.head(1).to_json(orient="records"))})
    for token in ("NaN", "Infinity", "-Infinity"):
        body = raw.replace('"tempo":', f'"tempo":{token},"ignored":', 1)
        response = client.post(
            "/invocations", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, token
        assert response.json()["error"].startswith("inputs.0.tempo:")
    frame = songs.head(2)
    csv_body = frame.to_csv(index=False).replace(str(frame["tempo"].iloc[1]), "inf", 1)
    response = client.post("/invocations", content=csv_body, headers={"content-type": "text/csv"})
    assert response.status_code == 422 and response.json()["error"].startswith("csv.1.tempo:")
    for body, error in (
        ("", "csv: no header row"),
        ("tempo,tempo\n1,2\n", "csv.header: column 'tempo' appears twice"),
        (frame.to_csv(index=False) + "1,2\n", "csv.4: has 2 values"),
        (b"\xff\xfe", "csv: not UTF-8 text"),
    ):
        response = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
        assert response.status_code == 422 and response.json()["error"].startswith(error)


def test_mlflow_payload_shapes(client, songs):
    record = json.loads(songs.head(1).to_json(orient="records"))[0]
    cases = [
        ({"dataframe_records": [{**record, "energy": None}]}, "dataframe_records.0.energy:"),
        ({"instances": []}, "instances: no songs to predict"),
        ({"inputs": [record], "instances": [record]}, "body: expected exactly one of the keys"),
        ({"params": {}, "inputs": [record]}, "params: unknown key"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}, "dataframe_split.data.0:"),
        ([record], "body: expected a JSON object"),
    ]
    for payload, error in cases:
        response = client.post("/invocations", json=payload)
        assert response.status_code == 422
        assert response.json()["error"].startswith(error), response.json()["error"]


def test_one_error_body_for_every_4xx_and_the_document_lists_them(client):
    responses = [
        client.get("/nowhere"),
        client.delete("/predict"),
        client.post("/predict", json={"songs": []}),
        client.post("/invocations", content=b"x", headers={"content-type": "text/plain"}),
        client.post("/predict", content=b"\xff", headers={"content-type": "application/json"}),
    ]
    assert [r.status_code for r in responses] == [404, 405, 422, 415, 422]
    for response in responses:
        assert set(response.json()) == {"error", "error_code", "detail"}
    assert responses[1].headers["allow"] == "POST"
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/predict", "/invocations"):
        documented = paths[path]["post"]["responses"]
        assert {"200", "413", "415", "422"} <= set(documented)
        assert documented["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
    body = paths["/invocations"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    forms = [set(form["required"]) for form in body["application/json"]["schema"]["oneOf"]]
    assert forms == [{"dataframe_split"}, {"dataframe_records"}, {"instances"}, {"inputs"}]


def test_ping_health_version_and_model_card(client, predictor):
    assert client.get("/ping").status_code == 200
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/version").text == predictor.card["versions"]["music-genre"]
    card = client.get("/model").json()
    assert card["classes"] == predictor.classes
    assert card["model_sha256"] == predictor.card["model_sha256"]
    assert {"versions", "validation_metrics", "params", "git_revision"} <= set(card)
    assert np.isclose(
        sum(card["validation_metrics"].values()), sum(predictor.card["validation_metrics"].values())
    )


def _metrics(client) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_every_request_route_status_song_and_genre(predictor, songs):
    client = TestClient(create_app(predictor, max_predict_songs=50))
    request = as_request_songs(songs.head(30))
    genres = []
    for start in range(0, 30, 10):
        response = client.post("/predict", json={"songs": request[start : start + 10]})
        genres += [p["genre"] for p in response.json()["predictions"]]
    client.post("/invocations", json={"instances": request[:5]})
    client.post("/predict", json={"songs": [{"tempo": 1}]})  # 422
    client.get("/nowhere/at/all")  # 404: counted under "other"
    metrics = _metrics(client)

    def value(name, **labels):
        return metrics.get((name, tuple(sorted(labels.items()))), 0)

    assert value("music_genre_requests_total", route="/predict", status="200") == 3
    assert value("music_genre_requests_total", route="/predict", status="422") == 1
    assert value("music_genre_requests_total", route="/invocations", status="200") == 1
    assert value("music_genre_requests_total", route="other", status="404") == 1
    assert value("music_genre_request_duration_seconds_count", route="/predict") == 4
    assert value("music_genre_request_duration_seconds_bucket", route="/predict", le="+Inf") == 4
    assert value("music_genre_songs_predicted_total", route="/predict") == 30
    assert value("music_genre_songs_predicted_total", route="/invocations") == 5
    for genre in set(genres):
        assert value("music_genre_predictions_total", genre=genre) >= genres.count(genre)
    assert (
        sum(v for (name, _), v in metrics.items() if name == "music_genre_predictions_total") == 35
    )
    info = [labels for (name, labels), _ in metrics.items() if name == "music_genre_model_info"]
    assert dict(info[0])["model_sha256"] == predictor.card["model_sha256"]
    # 1-20 ms is resolved by the buckets.
    buckets = {
        float(dict(labels)["le"])
        for (name, labels), _ in metrics.items()
        if name == "music_genre_request_duration_seconds_bucket"
    }
    assert len({b for b in buckets if 0.001 <= b <= 0.02}) >= 8
    assert "/drift" not in client.get("/openapi.json").json()["paths"]  # no reference given


def test_explain_is_predict_decomposed(client, predictor, songs):
    request = as_request_songs(songs.head(5))
    explained = client.post("/explain", json={"songs": request})
    predicted = client.post("/predict", json={"songs": request})
    assert explained.status_code == 200
    for explanation, prediction in zip(
        explained.json()["explanations"], predicted.json()["predictions"], strict=True
    ):
        assert explanation["genre"] == prediction["genre"]
        raw = np.array(
            [
                sum(explanation["contributions"][g].values()) + explanation["base_values"][g]
                for g in predictor.classes
            ]
        )
        proba = np.exp(raw - raw.max())
        proba /= proba.sum()
        expected = [prediction["probabilities"][g] for g in predictor.classes]
        np.testing.assert_allclose(proba, expected, atol=1e-6)
    bad = client.post("/explain", json={"songs": [{**request[0], "tempo": "fast"}]})
    assert bad.status_code == 422 and bad.json()["error"].startswith("songs.0.tempo")
    assert (
        client.post("/explain", content="x", headers={"content-type": "text/csv"}).status_code
        == 415
    )


def test_no_monitoring_means_no_metrics(predictor):
    client = TestClient(create_app(predictor, monitoring=False))
    assert client.get("/metrics").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert "/metrics" not in paths and "/explain" in paths


def test_drift_endpoint_against_the_committed_reference(predictor, songs):
    from music_genre.serving.reference import DriftSettings
    from support.project import PROJECT_ROOT

    drift = DriftSettings.load(
        PROJECT_ROOT / "data" / "reference_profile.json",
        PROJECT_ROOT / "plots" / "evaluate" / "custom" / "per_genre.json",
        predictor.contract,
        predictor.classes,
        window=100,
        threshold=0.1,
    )
    client = TestClient(create_app(predictor, drift=drift))
    client.post("/predict", json={"songs": as_request_songs(songs.head(40))})
    report = client.get("/drift").json()
    assert report["window"] == {"songs_per_worker": 100, "workers": 1, "songs_at_most": 100}
    assert report["features"]["tempo"]["songs"] == 40
    assert report["predicted_genre"]["songs"] == 40
    assert report["features"]["tempo"]["drifting"] is None  # 40 songs cannot tell
    assert set(report["features"]) == set(drift.reference.bins)
    metrics = _metrics(client)
    assert metrics[("music_genre_drift_songs", (("column", "tempo"),))] == 40


def test_every_cap_is_a_422_naming_it_and_the_document_states_it(client, songs):
    """/explain has its own cap; /predict's covers /invocations in every form. The OpenAPI
    document's maxItems is the cap, so a fuzzer generates only what is allowed."""
    explain = client.post("/explain", json={"songs": as_request_songs(songs.head(21))})
    assert explain.status_code == 422
    assert explain.json()["error"] == (
        "songs: at most 20 songs per /explain request (the server's cap), got 21"
    )
    at_cap = client.post("/explain", json={"songs": as_request_songs(songs.head(20))})
    assert at_cap.status_code == 200 and len(at_cap.json()["explanations"]) == 20
    for form, (content_type, body) in _mlflow_bodies(songs.head(51)).items():
        response = client.post("/invocations", content=body, headers={"content-type": content_type})
        assert response.status_code == 422, form
        assert response.json()["error"] == (
            f"{form}: at most 50 songs per /invocations request (the server's cap), got 51"
        )
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["songs"]["maxItems"] == 50
    assert schemas["ExplainRequest"]["properties"]["songs"]["maxItems"] == 20
    body = document["paths"]["/invocations"]["post"]["requestBody"]["content"]
    caps = {}
    for form in body["application/json"]["schema"]["oneOf"]:
        (name,) = form["required"]
        rows = form["properties"][name]
        caps[name] = (rows["properties"]["data"] if name == "dataframe_split" else rows)["maxItems"]
    caps["csv"] = body["text/csv"]["schema"]["maxItems"]
    assert caps == dict.fromkeys(_mlflow_bodies(songs.head(1)), 50)


def test_the_default_caps_are_the_declared_ones(predictor):
    from music_genre.serving import limits

    schemas = TestClient(create_app(predictor)).get("/openapi.json").json()["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["songs"]["maxItems"] == limits.MAX_PREDICT_SONGS
    assert schemas["ExplainRequest"]["properties"]["songs"]["maxItems"] == limits.MAX_EXPLAIN_SONGS


def test_predict_takes_a_row_copied_from_the_table_and_names_a_typo(client, predictor):
    """The songs table's columns that the model does not read (mode, type, genre, text_feature)
    are accepted and ignored; any other field is still a 422 naming it."""
    table = prepared_songs(30, seed=3)
    ignored = predictor.inputs.ignored
    assert set(ignored) == {"mode", "type", "genre", "text_feature"}
    assert set(ignored) <= set(table.columns)
    rows = json.loads(table.to_json(orient="records"))  # every column, as copied
    bare = as_request_songs(table)
    for path in ("/predict", "/explain"):
        copied = client.post(path, json={"songs": rows[:10]})
        assert copied.status_code == 200, copied.text
        assert copied.json() == client.post(path, json={"songs": bare[:10]}).json()
    expected = predictor.predict_proba(table.drop(columns=list(ignored)))
    predicted = client.post("/predict", json={"songs": rows[:10]}).json()["predictions"]
    assert [p["genre"] for p in predicted] == [
        predictor.classes[i] for i in expected[:10].argmax(1)
    ]
    for typo in ("modes", "Type", "text_features"):
        response = client.post("/predict", json={"songs": [bare[0], {**rows[1], typo: 1}]})
        assert response.status_code == 422
        assert response.json()["error"] == f"songs.1.{typo}: Extra inputs are not permitted"


def test_an_integer_too_long_to_read_is_a_422_not_a_500(client, songs):
    import sys

    digits = sys.get_int_max_str_digits() + 1
    record = json.dumps(json.loads(songs.head(1).to_json(orient="records"))[0])
    body = '{"inputs": [' + record.replace('"key":', '"key":' + "9" * digits + ',"x":', 1) + "]}"
    response = client.post(
        "/invocations", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == (
        f"request body is not valid JSON (an integer of more than {digits - 1} digits)"
    )


def test_serve_options_read_the_declared_limits_and_refuse_bad_values(small_model):
    import inspect

    from music_genre.cli.main import build_parser
    from music_genre.core.errors import ParamsError
    from music_genre.serving.server import serve

    defaults = build_parser().parse_args(["serve"])
    # The options default to the declared limits, as serve and create_app do.
    assert (
        defaults.max_predict_songs,
        defaults.max_explain_songs,
        defaults.max_body_bytes,
        defaults.grace_period,
        defaults.drift_window,
        defaults.drift_threshold,
    ) == _declared_defaults()
    # Every option but the model's is a keyword argument of serve, of the same name.
    keywords = set(inspect.signature(serve).parameters) - {"model"}
    assert set(vars(defaults)) - {"command", "handler", "model", "rev", "repo"} == keywords
    chosen = build_parser().parse_args(
        ["serve", "--max-batch-rows", "7", "--max-explain-songs", "3", "--grace-period", "0.5"]
    )
    assert (chosen.max_predict_songs, chosen.max_explain_songs, chosen.grace_period) == (7, 3, 0.5)
    for option, value, message in (
        ("grace_period", -1.0, "--grace-period -1.0: expected seconds, 0 or more"),
        ("grace_period", float("nan"), "--grace-period nan: expected seconds, 0 or more"),
        ("max_explain_songs", 0, "--max-explain-songs 0: expected 1 or more"),
        ("max_predict_songs", -5, "--max-predict-songs -5: expected 1 or more"),
    ):
        with pytest.raises(ParamsError) as caught:
            serve(small_model, workers=1, **{option: value})
        assert str(caught.value) == message


def _declared_defaults() -> tuple:
    """serve's defaults as serving.limits declares them, in the CLI options' order."""
    from music_genre.serving import limits

    return (
        limits.MAX_PREDICT_SONGS,
        limits.MAX_EXPLAIN_SONGS,
        limits.MAX_BODY_BYTES,
        limits.GRACE_SECONDS,
        limits.DRIFT_WINDOW,
        limits.DRIFT_THRESHOLD,
    )


def test_the_serve_help_shows_the_declared_defaults(capsys):
    from music_genre.cli.main import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for value in _declared_defaults():
        assert f"(default {value}" in shown, value
