"""data.schema: the pandera contract of the preprocessed table, the one place its rules live."""

import pandas as pd
import pandera.errors
import pytest

from music_genre.data.features import RAW_DTYPES, TARGET, TEXT_FEATURE
from music_genre.data.genres import GENRES
from music_genre.data.schema import NULLABLE_COLUMNS, VALUE_RANGES, preprocessed_schema


def _failures(frame: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(pandera.errors.SchemaErrors) as caught:
        preprocessed_schema().validate(frame, lazy=True)
    return caught.value.failure_cases


def test_every_range_names_a_numeric_column_of_the_table():
    for name, (low, high) in VALUE_RANGES.items():
        assert RAW_DTYPES[name] in {"float64", "int64"}, name
        assert low < high, name
    assert set(RAW_DTYPES) >= NULLABLE_COLUMNS


def test_a_clean_table_validates_and_extra_columns_are_carried(synthetic_prepared):
    table = synthetic_prepared.assign(extra=1)
    validated = preprocessed_schema().validate(table)
    assert list(validated.columns) == list(table.columns)
    assert set(preprocessed_schema().columns) == {*RAW_DTYPES, TEXT_FEATURE}


@pytest.mark.parametrize("name", sorted(VALUE_RANGES))
def test_both_ends_of_every_range_are_allowed_and_beyond_them_is_not(synthetic_prepared, name):
    low, high = VALUE_RANGES[name]
    table = synthetic_prepared.head(4).copy()
    step = 1 if RAW_DTYPES[name] == "int64" else 1e-9 * max(1.0, abs(high))
    table[name] = pd.Series([low, high, low, high], dtype=RAW_DTYPES[name])
    preprocessed_schema().validate(table)
    table[name] = pd.Series([low - step, high + step, low, high], dtype=RAW_DTYPES[name])
    failures = _failures(table)
    assert set(failures["column"]) == {name}
    assert len(failures) == 2


def test_unknown_genre_missing_values_and_duplicates_are_each_reported(synthetic_prepared):
    table = synthetic_prepared.head(5).copy()
    table.loc[0, TARGET] = "Polka"
    table.loc[1, "tempo"] = float("nan")
    table = pd.concat([table, table.tail(1)], ignore_index=True)
    failures = _failures(table)
    checks = set(zip(failures["column"].astype(str), failures["check"].astype(str), strict=True))
    genre = failures[(failures["column"] == TARGET) & failures["check"].str.startswith("isin")]
    assert list(genre["failure_case"]) == ["Polka"]
    assert all(name in genre["check"].iloc[0] for name in GENRES)
    assert ("tempo", "not_nullable") in checks
    # The repeated last row: one uniqueness failure per column of the table's unique key.
    assert {check for _, check in checks} >= {"multiple_fields_uniqueness"}
    # loudness is the one nullable column: missing loudness is not a failure.
    clean = synthetic_prepared.head(3).copy()
    clean.loc[0, "loudness"] = float("nan")
    preprocessed_schema().validate(clean)
