"""Behavioural tests of the workspace's model (models/model.joblib from `dvc repro` or `dvc pull`)
on the real test split, in the spirit of CheckList and Made-With-ML's tests/model.

- invariance: what must not change a song's probabilities;
- directional expectations: what a change of one audio feature must do, justified by the
  training data's own per-genre medians, computed here rather than assumed;
- minimum functionality: per-genre recall floors on the test split.

Each expectation says in one line why it should hold. A model that fails one is a model change
to look at before it is committed, even if its roc_auc went up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from music_genre.modeling.metrics import predicted_labels
from music_genre.serving.predict import Predictor
from support.data import missing_real_data, songs_contract
from support.project import PROJECT_ROOT

TARGET = songs_contract().target
MODEL = PROJECT_ROOT / "models" / "model.joblib"
TRAIN_SPLIT = PROJECT_ROOT / "data" / "split" / "train.parquet"
TEST_SPLIT = PROJECT_ROOT / "data" / "split" / "test.parquet"

RAP_GENRES = ("Rap", "Hiphop", "Underground Rap")
ELECTRONIC_GENRES = ("techno", "psytrance", "techhouse", "trance", "dnb")
SUNG_GENRES = ("Pop", "Emo", "RnB")
# A directional expectation holds on average and for at least this share of the songs: trees
# are not monotonic song by song, and the text carries most of the signal.
MOST_SONGS = 0.7

# Recall floors on the test split: the recall of the model they were set for (LightGBM lr 0.1,
# 15 leaves; plots/evaluate/custom/per_genre.json, grouped split) rounded down, less a 0.05
# margin for a re-tuned model. The comments give the committed (re-tuned) model's recall.
RECALL_FLOORS = {
    "Dark Trap": 0.50,  # committed 0.567
    "Emo": 0.70,  # 0.736
    "Hiphop": 0.42,  # 0.469
    "Pop": 0.34,  # 0.481 (135 test songs: the noisiest floor)
    "Rap": 0.49,  # 0.546
    "RnB": 0.38,  # 0.427
    "Trap Metal": 0.51,  # 0.600
    "Underground Rap": 0.28,  # 0.329
    "dnb": 0.95,  # 1.000
    "hardstyle": 0.94,  # 1.000
    "psytrance": 0.95,  # 1.000
    "techhouse": 0.95,  # 1.000
    "techno": 0.95,  # 1.000
    "trance": 0.95,  # 1.000
    "trap": 0.94,  # 0.998
}


def _required(path: Path) -> Path:
    if not path.is_file():
        missing_real_data(
            f"{path.relative_to(PROJECT_ROOT)} is missing: run `dvc repro` or `dvc pull`"
        )
    return path


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(_required(MODEL))


@pytest.fixture(scope="module")
def test_split() -> pd.DataFrame:
    return pd.read_parquet(_required(TEST_SPLIT))


@pytest.fixture(scope="module")
def train_split() -> pd.DataFrame:
    return pd.read_parquet(_required(TRAIN_SPLIT))


def _songs(frame: pd.DataFrame, genres: tuple[str, ...] | None = None) -> pd.DataFrame:
    chosen = frame if genres is None else frame[frame[TARGET].isin(genres)]
    return chosen.drop(columns=[TARGET]).reset_index(drop=True)


def _share(predictor: Predictor, songs: pd.DataFrame, genres: tuple[str, ...]) -> np.ndarray:
    columns = [predictor.classes.index(genre) for genre in genres]
    return predictor.predict_proba(songs)[:, columns].sum(axis=1)


# Invariance ---------------------------------------------------------------------------------


def test_case_and_surrounding_whitespace_of_the_text_do_not_matter(predictor, test_split):
    """The TF-IDF vocabulary is lower-cased and tokenised on words, so neither can matter."""
    songs = _songs(test_split).head(2000)
    shouted = songs.assign(
        title="  " + songs["title"].str.upper() + " \t",
        song_name=songs["song_name"].str.swapcase() + "  ",
    )
    assert np.array_equal(predictor.predict_proba(songs), predictor.predict_proba(shouted))


def test_row_order_and_batch_company_do_not_change_a_song(predictor, test_split):
    """Every step of the pipeline is fitted already and treats each row on its own."""
    songs = _songs(test_split).head(2000)
    together = predictor.predict_proba(songs)
    order = np.random.default_rng(0).permutation(len(songs))
    assert np.array_equal(predictor.predict_proba(songs.iloc[order])[np.argsort(order)], together)
    alone = np.vstack([predictor.predict_proba(songs.iloc[[row]]) for row in range(25)])
    assert np.array_equal(alone, together[:25])


def test_the_serving_path_agrees_with_the_batch_path_song_by_song(predictor, test_split):
    """The API's lean path replays the same fitted arithmetic, one song at a time."""
    songs = _songs(test_split).head(200)
    records = [
        {key: (None if pd.isna(value) else value) for key, value in record.items()}
        for record in songs.to_dict("records")
    ]
    served = np.vstack([predictor.predict_proba_rows([record]) for record in records])
    assert np.array_equal(served, predictor.predict_proba(songs))


# Directional expectations ---------------------------------------------------------------------


def test_raising_speechiness_to_the_rap_median_raises_the_rap_genres(
    predictor, test_split, train_split
):
    """Rap, Hiphop and Underground Rap are the most spoken genres in the training data."""
    medians = train_split.groupby(TARGET)["speechiness"].median()
    rap_level = medians[list(RAP_GENRES)].min()
    assert rap_level > 2 * medians[list(SUNG_GENRES)].max()  # the justification holds
    songs = _songs(test_split, SUNG_GENRES)
    before = _share(predictor, songs, RAP_GENRES)
    after = _share(predictor, songs.assign(speechiness=rap_level), RAP_GENRES)
    assert after.mean() > before.mean() + 0.05
    assert (after > before).mean() >= MOST_SONGS


def test_raising_instrumentalness_raises_the_electronic_genres(predictor, test_split, train_split):
    """Techno, psytrance, techhouse, trance and dnb are mostly instrumental; rap is not."""
    medians = train_split.groupby(TARGET)["instrumentalness"].median()
    electronic_level = medians[list(ELECTRONIC_GENRES)].median()
    assert electronic_level > 0.5 > 10 * medians[list(RAP_GENRES)].max()
    songs = _songs(test_split, RAP_GENRES)
    before = _share(predictor, songs, ELECTRONIC_GENRES)
    after = _share(predictor, songs.assign(instrumentalness=electronic_level), ELECTRONIC_GENRES)
    assert after.mean() > before.mean()
    assert (after > before).mean() >= MOST_SONGS


def test_lowering_speechiness_of_rap_songs_lowers_the_rap_genres(
    predictor, test_split, train_split
):
    """The same signal the other way round: rap sung at a pop song's speechiness is less rap."""
    medians = train_split.groupby(TARGET)["speechiness"].median()
    sung_level = medians[list(SUNG_GENRES)].median()
    songs = _songs(test_split, RAP_GENRES)
    before = _share(predictor, songs, RAP_GENRES)
    after = _share(predictor, songs.assign(speechiness=sung_level), RAP_GENRES)
    assert after.mean() < before.mean()
    assert (after < before).mean() >= MOST_SONGS


# Minimum functionality ------------------------------------------------------------------------


def test_every_genre_keeps_its_recall_floor_on_the_test_split(predictor, test_split):
    """A model may trade a little recall between genres, never give one up."""
    assert set(RECALL_FLOORS) == set(predictor.classes)
    predicted = np.asarray(
        predicted_labels(predictor.predict_proba(_songs(test_split)), predictor.classes)
    )
    truth = test_split[TARGET].to_numpy()
    recalls = {genre: float((predicted[truth == genre] == genre).mean()) for genre in RECALL_FLOORS}
    below = {
        genre: round(recalls[genre], 3)
        for genre in RECALL_FLOORS
        if recalls[genre] < RECALL_FLOORS[genre]
    }
    assert not below, f"recall below the floor: {below} (floors {RECALL_FLOORS})"


def test_electronic_songs_are_never_called_rap_and_the_other_way_round(predictor, test_split):
    """The two families differ in every audio feature; confusing them is a broken model."""
    for actual, other in ((ELECTRONIC_GENRES, RAP_GENRES), (RAP_GENRES, ELECTRONIC_GENRES)):
        songs = _songs(test_split, actual)
        predicted = np.asarray(predicted_labels(predictor.predict_proba(songs), predictor.classes))
        assert np.isin(predicted, other).mean() < 0.01
