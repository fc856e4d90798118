"""The lean single-request path: the pipeline's probabilities bit for bit, for every estimator."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from music_genre.core.estimators import ESTIMATORS
from music_genre.core.params import load_params
from music_genre.modeling.build import build_pipeline
from music_genre.modeling.fitting import fit
from music_genre.serving.fastpath import compile_pipeline
from music_genre.serving.inputs import RowInputs
from music_genre.serving.predict import Predictor
from support.data import prepared_songs, songs_contract, synthetic_songs

CONTRACT = songs_contract()
INPUTS = RowInputs.of(CONTRACT)
MODEL_INPUT_COLUMNS = CONTRACT.model_input_columns
TARGET = CONTRACT.target

PARAMS = load_params(Path(__file__).resolve().parents[3] / "params.yaml")
SMALL = {
    "lightgbm": {"n_estimators": 30, "early_stopping_round": None},
    "random_forest": {"n_estimators": 15, "max_depth": 8},
    "hist_gradient_boosting": {"max_iter": 15},
}


def as_songs(frame):
    return [
        {name: (None if pd.isna(value) else value) for name, value in row.items()}
        for row in frame[list(INPUTS.columns)].to_dict("records")
    ]


@pytest.fixture(scope="module", params=list(ESTIMATORS))
def fitted(request, synthetic_prepared_module):
    name = request.param
    arguments = {**getattr(PARAMS.train, name), **SMALL[name]}
    train = PARAMS.train.model_copy(update={"model": name, name: arguments})
    pipeline = build_pipeline(train, PARAMS.tfidf, CONTRACT)
    frame = synthetic_prepared_module
    return fit(pipeline, frame[list(MODEL_INPUT_COLUMNS)], frame[TARGET], name)


@pytest.fixture(scope="module")
def synthetic_prepared_module():
    return prepared_songs(1500, seed=21)


def test_compiled_path_equals_the_pipeline_bit_for_bit(fitted):
    songs = synthetic_songs(400, seed=8).drop(columns=[TARGET])
    # Edges: missing optional values, a key and time signature never seen in training,
    # words outside the vocabulary, empty text.
    songs.loc[songs.index[:5], "loudness"] = np.nan
    songs.loc[songs.index[5:10], ["title", "song_name"]] = None
    songs.loc[songs.index[10], "time_signature"] = 2
    songs.loc[songs.index[11], "title"] = "zzzqqq never seen words"
    compiled = compile_pipeline(fitted, INPUTS, probe=songs.head(20))
    assert compiled is not None
    expected = fitted.predict_proba(INPUTS.prepare(songs)[list(MODEL_INPUT_COLUMNS)])
    assert np.array_equal(compiled.predict_proba(as_songs(songs)), expected)
    # One song per request, as the API predicts it (batch and single-row arithmetic may differ
    # in the last bit for some estimators, in the pipeline as much as here).
    prepared = INPUTS.prepare(songs)[list(MODEL_INPUT_COLUMNS)]
    for index, song in enumerate(as_songs(songs[:30])):
        single = fitted.predict_proba(prepared.iloc[[index]])
        assert np.array_equal(compiled.predict_proba([song]), single)


def test_an_unknown_pipeline_shape_is_served_by_the_pipeline(fitted, tmp_path):
    wrapped = Pipeline([("preprocessor", fitted.named_steps["preprocessor"]), ("extra", fitted)])
    assert compile_pipeline(wrapped, INPUTS) is None
    card = {"input_columns": list(MODEL_INPUT_COLUMNS), "contract": CONTRACT.card()}
    predictor = Predictor(fitted, card, None)
    songs = synthetic_songs(20, seed=3).drop(columns=[TARGET])
    expected = fitted.predict_proba(INPUTS.prepare(songs)[list(MODEL_INPUT_COLUMNS)])
    assert np.array_equal(predictor.predict_proba_rows(as_songs(songs)), expected)


def test_one_song_gets_the_text_feature_of_the_table():
    """fastpath and preprocess compose title + ' ' + song_name with one function, alike."""
    from music_genre.serving.fastpath import text_of

    songs = synthetic_songs(60, seed=4).drop(columns=[TARGET])
    songs.loc[songs.index[:3], "title"] = None
    songs.loc[songs.index[2:5], "song_name"] = None
    songs.loc[songs.index[6], "title"] = "  spaced  out  "
    expected = CONTRACT.with_text_feature(songs)["text_feature"].tolist()
    assert [text_of(CONTRACT, song) for song in as_songs(songs)] == expected
    assert expected[6].startswith("  spaced  out   ")  # title + ' ' + song_name, unstripped


def test_the_lean_path_scores_with_the_compiled_scorer(fitted):
    """With the classifier's compiled scorer, the lean path gives the pipeline's probabilities
    (to 1e-9; LightGBM's to the last bit) and classes, for batches and single rows."""
    from music_genre.modeling.compiled import TOLERANCE, compile_scorer

    scorer = compile_scorer(fitted[-1])
    if type(fitted[-1]).__name__ == "RandomForestClassifier":
        assert scorer is None  # not a boosted-tree model: served by its own predictor
        return
    assert scorer is not None
    songs = synthetic_songs(300, seed=9).drop(columns=[TARGET])
    songs.loc[songs.index[:5], "loudness"] = np.nan
    compiled = compile_pipeline(fitted, INPUTS, probe=songs.head(20), scorer=scorer)
    assert compiled is not None and compiled.scorer is scorer
    prepared = INPUTS.prepare(songs)[list(MODEL_INPUT_COLUMNS)]
    expected = fitted.predict_proba(prepared)
    got = np.vstack([compiled.predict_proba(as_songs(songs)), *(
        compiled.predict_proba([song]) for song in as_songs(songs[:20]))])  # fmt: skip
    expected = np.vstack([expected, expected[:20]])
    assert np.all(np.abs(got - expected) <= TOLERANCE)
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    if type(fitted[-1]).__name__ == "LGBMClassifier":
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("statistics", [True, False])
def test_the_statistics_block_is_replayed_bit_for_bit(statistics, synthetic_prepared_module):
    """tfidf.statistics on and off: the lean path computes the text statistics of each row
    with the pipeline's own function, so single rows and batches equal the pipeline's."""
    from music_genre.modeling.compiled import compile_scorer

    arguments = {**PARAMS.train.lightgbm, **SMALL["lightgbm"]}
    train = PARAMS.train.model_copy(update={"model": "lightgbm", "lightgbm": arguments})
    tfidf = PARAMS.tfidf.model_copy(update={"statistics": statistics})
    frame = synthetic_prepared_module
    pipeline = fit(
        build_pipeline(train, tfidf, CONTRACT),
        frame[list(MODEL_INPUT_COLUMNS)],
        frame[TARGET],
        "lightgbm",
    )
    blocks = [name for name, _, _ in pipeline.named_steps["preprocessor"].transformers_]
    assert ("stat" in blocks) == statistics
    songs = synthetic_songs(200, seed=12).drop(columns=[TARGET])
    songs.loc[songs.index[:4], "title"] = None
    songs.loc[songs.index[4:8], "song_name"] = ["Beyoncé (Live)", "Ⅻ \uff12", "", "  A-B  "]
    expected = pipeline.predict_proba(INPUTS.prepare(songs)[list(MODEL_INPUT_COLUMNS)])
    for scorer in (None, compile_scorer(pipeline[-1])):
        compiled = compile_pipeline(pipeline, INPUTS, probe=songs.head(20), scorer=scorer)
        assert compiled is not None
        assert np.array_equal(compiled.predict_proba(as_songs(songs)), expected)
        for index, song in enumerate(as_songs(songs[:10])):
            assert np.array_equal(compiled.predict_proba([song]), expected[[index]])
