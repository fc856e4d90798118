"""data.schema: the pandera schema of the preprocessed table, derived from the contract."""

import pandas as pd
import pandera.errors
import pytest

from music_genre.data.contract import load_contract
from music_genre.data.schema import preprocessed_schema
from music_genre.data.synthetic import generate
from music_genre.pipeline.check_data import count_schema_checks
from music_genre.pipeline.preprocess import preprocess
from support.data import PENGUINS_CONTRACT, songs_contract, with_text

SONGS = songs_contract()
PENGUINS = load_contract(PENGUINS_CONTRACT)


def _failures(frame: pd.DataFrame, contract=SONGS) -> pd.DataFrame:
    with pytest.raises(pandera.errors.SchemaErrors) as caught:
        preprocessed_schema(contract).validate(frame, lazy=True)
    return caught.value.failure_cases


def test_the_songs_schema_has_the_rules_check_data_always_counted():
    schema = preprocessed_schema(SONGS)
    assert schema.name == "preprocessed songs"
    assert list(schema.columns) == [*SONGS.raw_columns, "text_feature"]
    # 18 dtype checks, 17 not-null checks (loudness may be missing), 13 ranges, the classes
    # and the unique rows: with 13 drift tests, the row count and the label conflicts, the 65
    # checks of metrics/check_data.json.
    assert count_schema_checks(schema) == 50
    assert [name for name, column in schema.columns.items() if column.nullable] == ["loudness"]


def test_a_clean_table_validates_and_extra_columns_are_carried(synthetic_prepared):
    table = synthetic_prepared.assign(extra=1)
    validated = preprocessed_schema(SONGS).validate(table)
    assert list(validated.columns) == list(table.columns)


@pytest.mark.parametrize("name", sorted(SONGS.value_ranges))
def test_both_ends_of_every_range_are_allowed_and_beyond_them_is_not(synthetic_prepared, name):
    low, high = SONGS.value_ranges[name]
    dtype = SONGS.raw_dtypes[name]
    table = synthetic_prepared.head(4).copy()
    step = 1 if dtype == "int64" else 1e-9 * max(1.0, abs(high))
    table[name] = pd.Series([low, high, low, high], dtype=dtype)
    preprocessed_schema(SONGS).validate(table)
    table[name] = pd.Series([low - step, high + step, low, high], dtype=dtype)
    failures = _failures(table)
    assert set(failures["column"]) == {name}
    assert len(failures) == 2


def test_unknown_genre_missing_values_and_duplicates_are_each_reported(synthetic_prepared):
    table = synthetic_prepared.head(5).copy()
    table.loc[0, "genre"] = "Polka"
    table.loc[1, "tempo"] = float("nan")
    table = pd.concat([table, table.tail(1)], ignore_index=True)
    failures = _failures(table)
    checks = set(zip(failures["column"].astype(str), failures["check"].astype(str), strict=True))
    genre = failures[(failures["column"] == "genre") & failures["check"].str.startswith("isin")]
    assert list(genre["failure_case"]) == ["Polka"]
    assert all(name in genre["check"].iloc[0] for name in SONGS.classes)
    assert ("tempo", "not_nullable") in checks
    # The repeated last row: one uniqueness failure per column of the table's unique key.
    assert {check for _, check in checks} >= {"multiple_fields_uniqueness"}
    # loudness is the one nullable column: missing loudness is not a failure.
    clean = synthetic_prepared.head(3).copy()
    clean.loc[0, "loudness"] = float("nan")
    preprocessed_schema(SONGS).validate(clean)


def test_declared_values_of_a_string_column_and_no_text_feature():
    schema = preprocessed_schema(PENGUINS)
    assert list(schema.columns) == list(PENGUINS.raw_columns)  # no text feature
    table = preprocess(generate(200, 0, PENGUINS), PENGUINS)
    schema.validate(table)
    table.loc[0, "island"] = "Atlantis"
    table.loc[1, "sex"] = None  # nullable
    table.loc[2, "bill_depth_mm"] = 30.0
    failures = _failures(table, PENGUINS)
    assert sorted(zip(failures["column"], failures["failure_case"], strict=True)) == [
        ("bill_depth_mm", 30.0),
        ("island", "Atlantis"),
    ]


def test_every_text_column_is_filled_and_the_text_feature_is_a_string_column():
    contract = with_text(PENGUINS, "notes", "comment")
    schema = preprocessed_schema(contract)
    assert list(schema.columns)[-1] == "notes_text"
    assert not any(schema.columns[name].nullable for name in ("notes", "comment", "notes_text"))
    table = preprocess(generate(200, 0, contract), contract)
    schema.validate(table)
