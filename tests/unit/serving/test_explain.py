import numpy as np
import pandas as pd
import pytest

from music_genre.cli.main import main
from music_genre.serving.explain import Explainer
from music_genre.serving.inputs import InputError
from music_genre.serving.predict import Predictor
from support.data import prepared_songs, songs_contract, synthetic_songs
from support.models import explained_columns, small_model_params
from support.servers import as_request_songs

MODEL_INPUT_COLUMNS = songs_contract().model_input_columns
TEXT_FEATURE = songs_contract().text_feature


@pytest.fixture(scope="module")
def predictor(small_model) -> Predictor:
    return Predictor.load(small_model)


@pytest.fixture(scope="module")
def explainer(predictor) -> Explainer:
    return Explainer.for_predictor(predictor)


def _softmax(raw: np.ndarray) -> np.ndarray:
    exp = np.exp(raw - raw.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_contributions_add_up_to_the_raw_scores_and_their_softmax_to_the_probabilities(
    predictor, explainer, songs, small_model
):
    request = as_request_songs(songs.head(50))
    explained = explainer.explain_rows(request)
    # Every input column the model reads, the text once (as the text feature) unless the
    # model has the statistics block.
    columns = explained_columns(songs_contract(), predictor.pipeline)
    assert explained.columns == columns
    assert explained.contributions.shape == (50, len(predictor.classes), len(explained.columns))
    # pred_contrib's last column is the base; the raw score is every contribution plus it.
    raw = explainer.booster.predict(explainer.matrix(request), raw_score=True)
    np.testing.assert_allclose(explained.raw_scores, raw, atol=1e-9)
    proba = predictor.predict_proba_rows(request)
    np.testing.assert_allclose(_softmax(explained.raw_scores), proba, atol=1e-9)
    # The same through the sklearn pipeline (no lean path).
    sklearn = Explainer.for_predictor(Predictor.load(small_model, lean=False)).explain_rows(request)
    np.testing.assert_allclose(sklearn.contributions, explained.contributions, atol=1e-12)


def test_records_and_top_terms(predictor, explainer, songs):
    request = as_request_songs(songs.head(20))
    records = explainer.explain_rows(request).records()
    for song, record in zip(request, records, strict=True):
        genre = record["genre"]
        assert genre == max(record["probabilities"], key=record["probabilities"].get)
        total = sum(record["contributions"][genre].values()) + record["base_values"][genre]
        assert total == pytest.approx(record["raw_scores"][genre], abs=1e-9)
        words = f"{song['title'] or ''} {song['song_name'] or ''}".lower()
        values = [term["contribution"] for term in record["top_terms"]]
        assert len(values) <= 5 and all(value != 0 for value in values)
        assert [abs(v) for v in values] == sorted((abs(v) for v in values), reverse=True)
        assert all(term["term"] in words for term in record["top_terms"])
    # The listed terms are part of the text column's contribution.
    assert any(record["top_terms"] for record in records)


def test_estimators_without_contributions_are_refused(tmp_path):
    from music_genre.pipeline.train import train

    table = tmp_path / "train.parquet"
    prepared_songs(1500, seed=3).to_parquet(table, index=False)
    params = small_model_params()
    params = params.model_copy(
        update={"train": params.train.model_copy(update={
            "model": "random_forest",
            "random_forest": {**params.train.random_forest, "n_estimators": 5},
        })}
    )  # fmt: skip
    model = tmp_path / "forest.joblib"
    train(params, str(table), str(model), str(tmp_path / "m"), str(tmp_path / "p"))
    with pytest.raises(InputError) as raised:
        Explainer.for_predictor(Predictor.load(model))
    assert raised.value.status == 422
    assert "'random_forest' (RandomForestClassifier) has no native per-column contributions" in (
        raised.value.message
    )
    songs = tmp_path / "songs.parquet"
    synthetic_songs(5, seed=1).to_parquet(songs)
    code = main(["predict", "--model", str(model), "--input", str(songs),
                 "--output", str(tmp_path / "out.parquet"), "--explain"])  # fmt: skip
    assert code != 0
    assert not (tmp_path / "out.parquet").exists()


def test_cli_predict_explain_writes_the_contribution_columns(predictor, small_model, tmp_path):
    songs = synthetic_songs(120, seed=4).drop(columns=["genre"])
    songs.to_parquet(tmp_path / "songs.parquet")
    out = tmp_path / "explained.parquet"
    code = main(["predict", "--model", str(small_model), "--input", str(tmp_path / "songs.parquet"),
                 "--output", str(out), "--explain", "--batch-rows", "50"])  # fmt: skip
    assert code == 0
    table = pd.read_parquet(out)
    classes = predictor.classes
    columns = explained_columns(songs_contract(), predictor.pipeline)
    assert len(table) == 120
    for genre in classes[:3]:
        contribution = table[[f"contribution_{genre}_{c}" for c in columns]]
        raw = contribution.sum(axis=1) + table[f"base_{genre}"]
        assert raw.notna().all()
    raw = np.column_stack([
        table[[f"contribution_{g}_{c}" for c in columns]].sum(axis=1)
        + table[f"base_{g}"]
        for g in classes
    ])  # fmt: skip
    expected = predictor.predict_proba(songs)
    np.testing.assert_allclose(_softmax(raw), expected, atol=1e-9)
    assert (table["predicted_genre"] == [classes[i] for i in expected.argmax(axis=1)]).all()
    assert table["top_terms"].str.contains(":").any()
    assert f"contribution_{classes[0]}_{TEXT_FEATURE}" in table


def test_a_model_with_text_statistics_explains_each_text_column(songs, predictor):
    """tfidf.statistics: the statistics' contributions go to title and song_name, and the
    contributions still add up to the raw scores of /predict's probabilities."""
    from music_genre.modeling.build import build_pipeline
    from music_genre.modeling.fitting import fit

    contract = songs_contract()
    params = small_model_params()
    tfidf = params.tfidf.model_copy(update={"statistics": True})
    small = {**params.train.lightgbm, "n_estimators": 25, "early_stopping_round": None}
    train = params.train.model_copy(update={"lightgbm": small})
    table = prepared_songs(1200, seed=5)
    inputs = list(contract.model_input_columns)
    pipeline = fit(
        build_pipeline(train, tfidf, contract),
        table[inputs],
        table[contract.target],
        "lightgbm",
    )
    assert predictor.card["input_columns"] == inputs
    predictor = Predictor(pipeline, predictor.card, None)  # the small model's card
    explainer = Explainer.for_predictor(predictor)
    assert explainer.columns == inputs  # ... text_feature, title, song_name
    request = as_request_songs(songs.head(30))
    explained = explainer.explain_rows(request)
    np.testing.assert_allclose(
        _softmax(explained.raw_scores), predictor.predict_proba_rows(request), atol=1e-9
    )
    title = explained.columns.index("title")
    assert np.abs(explained.contributions[:, :, title]).sum() > 0
