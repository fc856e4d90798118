"""Every prediction path of a loaded model scores with the compiled scorer and gives the
booster's answers: `music-genre predict` (streamed in batches), the lean single-row and batch
paths of the API, and /explain's probabilities; without a compiler, each path falls back to the
booster after one log line."""

from __future__ import annotations

import logging

import lightgbm as lgb
import numpy as np
import pandas as pd

from music_genre.modeling import compiled, kernel
from music_genre.modeling.compiled import TOLERANCE
from music_genre.serving.explain import Explainer
from music_genre.serving.predict import Predictor, predict_file
from support.data import synthetic_songs
from support.servers import as_request_songs


def expected_of(predictor: Predictor, songs: pd.DataFrame) -> np.ndarray:
    prepared = predictor.inputs.prepare(songs)[predictor.card["input_columns"]]
    return predictor.pipeline.predict_proba(prepared)


def assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    assert np.all(np.abs(got - expected) <= TOLERANCE)
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))


def test_every_path_scores_with_the_compiled_scorer(small_model, tmp_path, monkeypatch):
    songs = synthetic_songs(700, seed=41).drop(columns=["genre"])
    predictor = Predictor.load(small_model)
    assert predictor.scorer is not None and predictor.compiled.scorer is predictor.scorer
    expected = expected_of(predictor, songs)
    rows = as_request_songs(songs)
    explainer = Explainer.for_predictor(predictor)
    matrix = explainer.matrix(rows[:40])
    booster = explainer.booster.predict(matrix)
    songs.to_parquet(tmp_path / "songs.parquet", index=False)

    predict = lgb.Booster.predict

    def refuse(self, data, *args, **kwargs):
        if not kwargs.get("pred_contrib"):
            raise AssertionError("LightGBM's own predictor was used")
        return predict(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", refuse)
    assert_same(predictor.predict_proba(songs), expected)  # the batch path (CSR)
    assert_same(predictor.predict_proba_rows(rows), expected)  # the lean path (dense rows)
    for index in range(5):
        assert_same(predictor.predict_proba_rows([rows[index]]), expected[index : index + 1])
    assert_same(explainer.probabilities(matrix), booster)
    assert_same(explainer.explain(matrix).probabilities, booster)
    written = tmp_path / "predictions.parquet"
    options = {"with_probabilities": True, "progress": False}
    assert predict_file(predictor, tmp_path / "songs.parquet", written, batch_rows=97, **options)
    table = pd.read_parquet(written)
    probabilities = table[[f"probability_{label}" for label in predictor.classes]].to_numpy()
    assert_same(probabilities, expected)
    assert table["predicted_genre"].tolist() == [predictor.classes[i] for i in expected.argmax(1)]


def test_without_a_compiler_every_path_uses_the_booster_after_one_log_line(
    small_model, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv(kernel.CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.setenv(kernel.COMPILER_ENV, str(tmp_path / "no-such-cc"))
    with caplog.at_level(logging.WARNING):
        predictor = Predictor.load(small_model)
    (line,) = [record.getMessage() for record in caplog.records]
    assert line.startswith("compiled scorer unavailable (no C compiler")
    assert predictor.scorer is None and predictor.compiled is not None
    songs = synthetic_songs(200, seed=42).drop(columns=["genre"])
    expected = expected_of(predictor, songs)
    assert np.array_equal(predictor.predict_proba(songs), expected)
    assert np.array_equal(predictor.predict_proba_rows(as_request_songs(songs)), expected)
    matrix = Explainer.for_predictor(predictor).matrix(as_request_songs(songs[:10]))
    assert np.array_equal(
        Explainer.for_predictor(predictor).probabilities(matrix),
        predictor.pipeline[-1].booster_.predict(matrix),
    )


def test_the_booster_and_the_compiled_scorer_write_the_same_file(
    small_model, tmp_path, monkeypatch
):
    from music_genre.cli.main import main

    songs = synthetic_songs(1500, seed=43).drop(columns=["genre"])
    songs.to_csv(tmp_path / "songs.csv", index=False)
    outputs = {}
    for choice in (compiled.COMPILED, compiled.BOOSTER):
        monkeypatch.setenv(compiled.SCORER_ENV, choice)
        outputs[choice] = tmp_path / f"{choice}.parquet"
        source, target = str(tmp_path / "songs.csv"), str(outputs[choice])
        arguments = ["predict", "--model", str(small_model), "--input", source, "--output",
                     target, "--probabilities", "--batch-rows", "400"]  # fmt: skip
        assert main(arguments) == 0
    mine, theirs = (pd.read_parquet(path) for path in outputs.values())
    pd.testing.assert_frame_equal(mine, theirs, check_exact=False, atol=TOLERANCE, rtol=0)
    assert mine["predicted_genre"].equals(theirs["predicted_genre"])
