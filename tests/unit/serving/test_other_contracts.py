"""The API, drift, metrics and `predict` for tables other than the songs: everything named after
the contract the model carries. A tiny LightGBM model per contract, trained on a table generated
from the contract alone: the penguins (no text, string categoricals, nullable columns, 3 classes),
the penguins with two text columns, a numeric-only variant (no categorical, no text block), and
two species only (a two-class booster: one raw score)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from music_genre.cli.main import main
from music_genre.core.params import load_params
from music_genre.data.contract import Contract, load_contract
from music_genre.data.profile import build_profile
from music_genre.data.synthetic import generate
from music_genre.modeling.build import build_pipeline
from music_genre.modeling.store import save_model
from music_genre.serving.app import create_app
from music_genre.serving.predict import Predictor
from music_genre.serving.reference import DriftSettings
from support.data import PENGUINS_CONTRACT, with_text
from support.models import explained_columns
from support.project import PROJECT_ROOT
from support.servers import as_request_songs as as_request_rows


def _numeric_only(contract: Contract) -> Contract:
    card = contract.card()
    for column in card["columns"]:
        if column["role"] == "categorical":
            column["role"] = "carried"
    return Contract.model_validate(card)


def _two_classes(contract: Contract) -> Contract:
    card = contract.card()
    for column in card["columns"]:
        if column["name"] == contract.target:
            column["values"] = ["Adelie", "Gentoo"]
    return Contract.model_validate(card)


def _contracts() -> dict[str, Contract]:
    penguins = load_contract(PENGUINS_CONTRACT)
    return {
        "no_text": penguins,
        "two_texts": with_text(penguins, "notes", "remarks"),
        "numeric_only": _numeric_only(penguins),
        "two_classes": _two_classes(penguins),
    }


CONTRACTS = _contracts()


@pytest.fixture(scope="module", params=list(CONTRACTS))
def served(request, tmp_path_factory):
    """(contract, predictor loaded from its saved model, the table it was trained on, the
    model's path)."""
    contract = CONTRACTS[request.param]
    params = load_params(PROJECT_ROOT / "params.yaml")
    small = {**params.train.lightgbm, "n_estimators": 25, "early_stopping_round": None}
    train = params.train.model_copy(update={"model": "lightgbm", "lightgbm": small})
    table = contract.with_text_feature(generate(900, 5, contract))
    pipeline = build_pipeline(train, params.tfidf, contract)
    pipeline.fit(table[list(contract.model_input_columns)], table[contract.target])
    card = {
        "model": "lightgbm",
        "estimator": "LGBMClassifier",
        "classes": [str(label) for label in pipeline[-1].classes_],
        "input_columns": list(contract.model_input_columns),
        "versions": {"music-genre": "test"},
        "contract": contract.card(),
    }
    path = tmp_path_factory.mktemp(request.param) / "model.joblib"
    save_model(pipeline, card, path)
    return contract, Predictor.load(path), table, path


def _client(predictor: Predictor, **options) -> TestClient:
    return TestClient(create_app(predictor, max_predict_songs=100, max_explain_songs=20, **options))


def _rows(contract: Contract, n: int, seed: int = 9) -> tuple[pd.DataFrame, list[dict]]:
    frame = generate(n, seed, contract).drop(columns=[contract.target])
    return frame, as_request_rows(frame, contract)


def test_the_predictor_speaks_its_contract_and_takes_the_lean_path(served):
    contract, predictor, _, _ = served
    assert predictor.contract == contract
    assert predictor.compiled is not None  # the probe rows agreed with the pipeline exactly
    assert sorted(predictor.classes) == sorted(contract.classes)
    frame, rows = _rows(contract, 40)
    expected = predictor.pipeline.predict_proba(
        predictor.inputs.prepare(frame)[list(contract.model_input_columns)]
    )
    assert np.array_equal(predictor.predict_proba_rows(rows), expected)
    assert predictor.inputs.row.__name__ == "Penguin"
    assert set(predictor.inputs.ignored) == {
        contract.target,
        "year",
        *([contract.text_feature] if contract.text else []),
        *(() if contract.categorical_features else ("island", "sex")),
    }


def test_predict_and_invocations_answer_in_the_contracts_names(served):
    contract, predictor, _, _ = served
    client = _client(predictor)
    frame, rows = _rows(contract, 30)
    expected = predictor.predict_proba(frame)
    labels = [predictor.classes[i] for i in expected.argmax(axis=1)]
    response = client.post("/predict", json={contract.name: rows})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p[contract.target] for p in predictions] == labels
    for prediction, row in zip(predictions, expected, strict=True):
        assert set(prediction) == {contract.target, "probabilities"}
        assert [prediction["probabilities"][c] for c in predictor.classes] == pytest.approx(row)
    assert client.post("/predict", json={"songs": rows}).status_code == 422  # not this table's
    table = frame.assign(**{contract.target: contract.classes[0]})  # every column, the target too
    for content_type, body in (
        ("application/json", {"dataframe_records": json.loads(table.to_json(orient="records"))}),
        ("application/json", {"dataframe_split": json.loads(table.to_json(orient="split"))}),
        ("text/csv", table.to_csv(index=False)),
    ):
        content = body if isinstance(body, str) else json.dumps(body)
        answer = client.post(
            "/invocations", content=content, headers={"content-type": content_type}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": labels}


def test_requests_are_held_to_the_contract(served):
    contract, predictor, _, _ = served
    client = _client(predictor)
    _, rows = _rows(contract, 3)
    name = contract.name
    cases = [
        ({"bill_depth_mm": 99.0}, f"{name}.1.bill_depth_mm: 99.0 is outside the allowed range"),
        ({"bill_depth_mm": "deep"}, f"{name}.1.bill_depth_mm: Input should be a valid number"),
        ({"beak": 1}, f"{name}.1.beak: Extra inputs are not permitted"),
    ]
    if contract.categorical_features:
        cases.append(
            ({"island": "Atlantis"}, f"{name}.1.island: Input should be 'Biscoe', 'Dream' or")
        )
    for change, message in cases:
        body = {name: [rows[0], {**rows[1], **change}]}
        response = client.post("/predict", json=body)
        assert response.status_code == 422
        assert response.json()["error"].startswith(message), response.json()["error"]
    # The table's own other columns are accepted and ignored; optional ones may be left out.
    copied = {**rows[0], contract.target: "Gentoo", "year": 2008}
    required = {k: v for k, v in rows[0].items() if k in contract.required_input_columns}
    for row in (copied, required):
        assert client.post("/predict", json={name: [row]}).status_code == 200
    too_many = client.post("/predict", json={name: rows * 34})
    assert too_many.json()["error"] == (
        f"{name}: at most 100 {name} per /predict request (the server's cap), got 102"
    )
    empty = client.post("/invocations", json={"inputs": []})
    assert empty.json()["error"] == f"inputs: no {name} to predict"


def _softmax(raw: np.ndarray) -> np.ndarray:
    exp = np.exp(raw - raw.max())
    return exp / exp.sum()


def test_explanations_are_per_input_column_and_terms_only_with_text(served):
    contract, predictor, _, _ = served
    client = _client(predictor)
    _, rows = _rows(contract, 8)
    explained = client.post("/explain", json={contract.name: rows})
    assert explained.status_code == 200, explained.text
    predicted = client.post("/predict", json={contract.name: rows}).json()["predictions"]
    for explanation, prediction in zip(explained.json()["explanations"], predicted, strict=True):
        assert explanation[contract.target] == prediction[contract.target]
        assert ("top_terms" in explanation) == (contract.text is not None)
        contributions = explanation["contributions"]
        read = explained_columns(contract, predictor.pipeline)
        assert all(list(c) == read for c in contributions.values())
        raw = np.array(
            [
                sum(contributions[c].values()) + explanation["base_values"][c]
                for c in predictor.classes
            ]
        )
        expected = [prediction["probabilities"][c] for c in predictor.classes]
        np.testing.assert_allclose(_softmax(raw), expected, atol=1e-9)


def _drift(
    contract: Contract, predictor: Predictor, table: pd.DataFrame, tmp_path
) -> DriftSettings:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(build_profile(table, 100, contract)))
    mix = tmp_path / f"per_{contract.target}.json"
    counts = table[contract.target].value_counts()
    mix.write_text(
        json.dumps([{contract.target: c, "predicted": int(counts[c])} for c in predictor.classes])
    )
    return DriftSettings.load(profile, mix, contract, predictor.classes, window=50)


def test_drift_and_metrics_count_under_the_contracts_names(served, tmp_path):
    contract, predictor, table, _ = served
    client = _client(predictor, drift=_drift(contract, predictor, table, tmp_path))
    _, rows = _rows(contract, 30)
    predicted = client.post("/predict", json={contract.name: rows}).json()["predictions"]
    report = client.get("/drift").json()
    name, column = contract.name, contract.prediction_column
    assert list(report["features"]) == list(contract.numeric_features)
    assert report["window"] == {f"{name}_per_worker": 50, "workers": 1, f"{name}_at_most": 50}
    assert report[column][name] == 30 and report[column]["drifting"] is None
    assert report["features"]["body_mass_g"][name] <= 30  # missing values are not counted
    assert set(report["reference"]) == {"features", column}
    metrics = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    }
    per_class = {
        dict(labels)[contract.target]: value
        for (metric, labels), value in metrics.items()
        if metric == "music_genre_predictions_total"
    }
    assert per_class == {
        c: [p[contract.target] for p in predicted].count(c) for c in contract.classes
    }
    assert metrics[(f"music_genre_{name}_predicted_total", (("route", "/predict"),))] == 30
    assert metrics[(f"music_genre_drift_{name}", (("column", column),))] == 30
    window = {
        labels: value for (metric, labels), value in metrics.items()
        if metric == f"music_genre_drift_window_{name}"
    }  # fmt: skip
    assert sum(v for labels, v in window.items() if dict(labels)["column"] == column) == 30


def test_the_document_is_written_from_the_contract(served, tmp_path):
    contract, predictor, table, _ = served
    client = _client(predictor, drift=_drift(contract, predictor, table, tmp_path))
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    penguin = schemas["Penguin"]
    assert set(contract.input_columns) <= set(penguin["properties"])
    assert penguin.get("required", []) == list(contract.required_input_columns)
    assert schemas["PredictRequest"]["required"] == [contract.name]
    assert schemas["SpeciesPrediction"]["required"] == [contract.target, "probabilities"]
    assert contract.prediction_column in schemas["DriftReport"]["properties"]
    assert ("top_terms" in schemas["PenguinExplanation"]["properties"]) == bool(contract.text)
    if contract.categorical_features:
        island = penguin["properties"]["island"]
        assert island["enum"] == ["Biscoe", "Dream", "Torgersen"]
        sex = penguin["properties"]["sex"]["anyOf"]  # nullable: the values or null
        assert {"enum": ["female", "male"], "type": "string"} in sex
    assert "genre" not in json.dumps(schemas).lower()


def test_cli_predict_writes_the_contracts_columns(served, tmp_path, capsys):
    contract, predictor, _, model = served
    frame, _ = _rows(contract, 25)
    source, target = tmp_path / "rows.csv", tmp_path / "out.parquet"
    frame.to_csv(source, index=False)
    options = ["--model", str(model), "--input", str(source)]
    code = main(["predict", *options, "--output", str(target), "--probabilities", "--explain"])
    assert code == 0
    out = pd.read_parquet(target)
    expected = predictor.predict_proba(frame)
    labels = [predictor.classes[i] for i in expected.argmax(axis=1)]
    assert out[contract.prediction_column].tolist() == labels
    for label in predictor.classes:
        assert out[contract.probability_column(label)].to_numpy() == pytest.approx(
            expected[:, predictor.classes.index(label)]
        )
        for column in explained_columns(contract, predictor.pipeline):
            assert f"contribution_{label}_{column}" in out
        assert f"base_{label}" in out
    assert ("top_terms" in out) == (contract.text is not None)
    # The penguins' measurements are nullable: optional in a file too; the island is required.
    frame.drop(columns=["bill_depth_mm", "sex"]).to_csv(source, index=False)
    assert main(["predict", *options, "--output", str(tmp_path / "some.csv")]) == 0
    if contract.required_input_columns == ("island",):
        frame.drop(columns=["island"]).to_csv(source, index=False)
        assert main(["predict", *options, "--output", str(tmp_path / "no.csv")]) == 1
        assert f"{source}: missing required column(s) island" in capsys.readouterr().err
        assert not (tmp_path / "no.csv").exists()


def test_explanations_with_the_booster_alone_give_the_pipelines_probabilities(served, monkeypatch):
    """Without the compiled scorer (MUSIC_GENRE_SCORER=booster) the explainer scores with the
    booster: for two classes its one output becomes predict_proba's two columns."""
    from music_genre.modeling.compiled import SCORER_ENV
    from music_genre.serving.explain import Explainer

    contract, _, _, model = served
    monkeypatch.setenv(SCORER_ENV, "booster")
    predictor = Predictor.load(model)
    assert predictor.scorer is None
    frame, rows = _rows(contract, 12)
    explained = Explainer.for_predictor(predictor).explain_rows(rows)
    expected = predictor.pipeline.predict_proba(
        predictor.inputs.prepare(frame)[list(contract.model_input_columns)]
    )
    assert explained.probabilities.shape == (12, len(contract.classes))
    np.testing.assert_array_equal(explained.probabilities, expected)
    np.testing.assert_allclose(
        np.exp(explained.raw_scores) / np.exp(explained.raw_scores).sum(axis=1, keepdims=True),
        expected,
        atol=1e-9,
    )
