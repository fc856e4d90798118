"""The workspace's model (models/model.joblib) through the compiled scorer: LightGBM's own
probabilities (to 1e-9; in fact to the last bit) and classes on every row of the real test split
and on 100,000 synthetic rows, through the paths that serve them (the batch path of
`music-genre predict` and the lean single-row path of the API)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from music_genre.modeling.compiled import TOLERANCE
from music_genre.serving.predict import Predictor, predict_file
from support.data import missing_real_data, songs_contract, synthetic_songs
from support.project import PROJECT_ROOT
from support.servers import as_request_songs

MODEL = PROJECT_ROOT / "models" / "model.joblib"
TEST_SPLIT = PROJECT_ROOT / "data" / "split" / "test.parquet"
TARGET = songs_contract().target

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    for path in (MODEL, TEST_SPLIT):
        if not path.is_file():
            missing_real_data(f"{path.relative_to(PROJECT_ROOT)} is missing: run `dvc repro`")
    predictor = Predictor.load(MODEL)
    assert predictor.scorer is not None, "no compiled scorer here (is there a C compiler?)"
    return predictor


def booster_proba(predictor: Predictor, table: pd.DataFrame) -> np.ndarray:
    """LightGBM's own predictor, on the matrix the pipeline gives it (CSR)."""
    prepared = predictor.inputs.prepare(table)[predictor.card["input_columns"]]
    return predictor.pipeline.predict_proba(prepared)


def assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    difference = np.abs(got - expected)
    assert np.all(difference <= TOLERANCE), f"max |difference| {difference.max():.3g}"
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    assert np.array_equal(got, expected)  # the same sums and softmax: bit for bit


def test_every_row_of_the_test_split(predictor, tmp_path):
    test = pd.read_parquet(TEST_SPLIT).drop(columns=[TARGET])
    expected = booster_proba(predictor, test)
    output = tmp_path / "predictions.parquet"
    assert predict_file(predictor, TEST_SPLIT, output, with_probabilities=True, progress=False)
    written = pd.read_parquet(output)
    columns = [songs_contract().probability_column(label) for label in predictor.classes]
    assert_same(written[columns].to_numpy(), expected)
    predicted = [predictor.classes[i] for i in expected.argmax(axis=1)]
    assert written[songs_contract().prediction_column].tolist() == predicted
    rows = as_request_songs(test.head(300))
    single = np.vstack([predictor.predict_proba_rows([row]) for row in rows])
    assert_same(single, expected[:300])


def test_100000_synthetic_rows(predictor):
    table = synthetic_songs(100_000, seed=2031).drop(columns=[TARGET])
    assert_same(predictor.predict_proba(table), booster_proba(predictor, table))
