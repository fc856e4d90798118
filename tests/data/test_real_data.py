"""Data tests on the real songs table (skipped without it, failing in CI)."""

import json
from pathlib import Path

from music_genre.core.params import load_params
from music_genre.data.features import RAW_DTYPES
from music_genre.data.genres import GENRES
from music_genre.data.splits import split_by, split_report
from music_genre.pipeline.check_data import check_table
from music_genre.pipeline.preprocess import preprocess

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((ROOT / "data" / "reference_profile.json").read_text())


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
    report = check_table(preprocess(real_table), REFERENCE, 0.05)
    assert report["passed"], report["failures"]


def test_a_stratified_sample_does_not_look_drifted(real_table):
    sample = preprocess(real_table).groupby("genre").sample(frac=0.1, random_state=0)
    assert check_table(sample, REFERENCE, 0.05)["passed"]


def test_reference_profile_is_statistics_of_the_accepted_table(real_table):
    assert REFERENCE["rows"] == len(preprocess(real_table))
    assert REFERENCE["n_quantiles"] == 1000
    assert all(len(values) == 1000 for values in REFERENCE["numeric"].values())


def test_label_conflicts_of_the_real_table_are_counted(real_table):
    report = check_table(preprocess(real_table), REFERENCE, 0.05, max_conflicting_share=0.15)
    assert report["passed"]
    tracks = report["tracks"]
    assert (tracks["conflicting_tracks"], tracks["conflicting_rows"]) == (1790, 3977)
    assert tracks["repeated_tracks"] == 3864
    # Above the limit, the same conflicts fail the table.
    strict = check_table(preprocess(real_table), REFERENCE, 0.05, max_conflicting_share=0.05)
    assert not strict["passed"]
    assert strict["failures"][-1]["check"].startswith("label conflicts: 9.5% of rows")


def test_no_test_row_has_its_track_in_train_with_the_committed_split(real_table):
    params = load_params(ROOT / "params.yaml")
    assert params.segregate.group_by == "track"
    prepared = preprocess(real_table)
    train, test = split_by("track", prepared, params.segregate.test_size, params.seed)
    assert split_report(train, test, "track")["test_rows_whose_track_is_also_in_rest"] == 0
    fit, validation = split_by("track", train, params.train.val_size, params.seed, "validation")
    report = split_report(fit, validation, "track", "validation")
    assert report["validation_rows_whose_track_is_also_in_rest"] == 0
    # The row-by-row split of the same table leaks: 16.4% of its test rows.
    train, test = split_by("none", prepared, params.segregate.test_size, params.seed)
    leaked = split_report(train, test, "none")["test_rows_whose_track_is_also_in_rest"]
    assert leaked == 2065
