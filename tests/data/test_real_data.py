"""Data tests on the real songs table (skipped without it, failing in CI)."""

import json
from pathlib import Path

from music_genre.core.params import load_params
from music_genre.data.profile import build_profile
from music_genre.data.splits import split_by, split_report
from music_genre.data.synthetic import build_spec, load_spec
from music_genre.pipeline.check_data import check_table
from music_genre.pipeline.preprocess import preprocess as preprocess_table
from support.data import SONGS_SPEC, songs_contract

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((ROOT / "data" / "reference_profile.json").read_text())
SONGS = songs_contract()
RAW_DTYPES = SONGS.raw_dtypes
GENRES = SONGS.classes


def preprocess(frame):
    return preprocess_table(frame, SONGS)


def check(frame, max_conflicting_share=1.0):
    return check_table(frame, REFERENCE, 0.05, max_conflicting_share, contract=SONGS)


def test_the_real_table_has_the_documented_shape(real_table):
    assert real_table.shape == (42_896, 17)
    assert {name: str(dtype) for name, dtype in real_table.dtypes.items()} == RAW_DTYPES
    assert set(real_table["genre"]) == set(GENRES)


def test_title_is_filled_exactly_for_the_electronic_genres(real_table):
    has_title = real_table.groupby("genre")["title"].apply(lambda titles: titles.notna().all())
    no_title = real_table.groupby("genre")["title"].apply(lambda titles: titles.isna().all())
    electronic = {genre for genre in GENRES if genre.islower()}
    assert set(has_title[has_title].index) == electronic
    assert set(no_title[no_title].index) == set(GENRES) - electronic


def test_preprocessed_real_table_passes_every_check(real_table):
    report = check(preprocess(real_table))
    assert report["passed"], report["failures"]
    assert report["checks"]["total"] == 65


def test_a_stratified_sample_does_not_look_drifted(real_table):
    sample = preprocess(real_table).groupby("genre").sample(frac=0.1, random_state=0)
    assert check(sample)["passed"]


def test_reference_profile_is_statistics_of_the_accepted_table(real_table):
    assert REFERENCE["rows"] == len(preprocess(real_table))
    assert REFERENCE["n_quantiles"] == 1000
    assert all(len(values) == 1000 for values in REFERENCE["numeric"].values())
    assert build_profile(preprocess(real_table), 1000, SONGS) == REFERENCE


def test_the_committed_spec_is_statistics_of_the_real_table(real_table):
    assert build_spec(real_table, SONGS) == load_spec(SONGS_SPEC)


def test_label_conflicts_of_the_real_table_are_counted(real_table):
    report = check(preprocess(real_table), max_conflicting_share=0.15)
    assert report["passed"]
    tracks = report["tracks"]
    assert (tracks["conflicting_tracks"], tracks["conflicting_rows"]) == (1790, 3977)
    assert tracks["repeated_tracks"] == 3864
    # Above the limit, the same conflicts fail the table.
    strict = check(preprocess(real_table), max_conflicting_share=0.05)
    assert not strict["passed"]
    assert strict["failures"][-1]["check"].startswith("label conflicts: 9.5% of rows")


def test_no_test_row_has_its_track_in_train_with_the_committed_split(real_table):
    params = load_params(ROOT / "params.yaml")
    assert params.segregate.group_by == "track"
    prepared = preprocess(real_table)
    train, test = split_by(prepared, SONGS, "track", params.segregate.test_size, params.seed)
    report = split_report(train, test, SONGS, "track")
    assert report["test_rows_whose_track_is_also_in_rest"] == 0
    assert report == json.loads((ROOT / "metrics" / "split.json").read_text())
    fit, validation = split_by(
        train, SONGS, "track", params.train.val_size, params.seed, what="validation"
    )
    report = split_report(fit, validation, SONGS, "track", "validation")
    assert report["validation_rows_whose_track_is_also_in_rest"] == 0
    # The row-by-row split of the same table leaks: 16.4% of its test rows.
    train, test = split_by(prepared, SONGS, "none", params.segregate.test_size, params.seed)
    leaked = split_report(train, test, SONGS, "none")["test_rows_whose_track_is_also_in_rest"]
    assert leaked == 2065
