import pandas as pd
import pytest

from music_genre.core.errors import DataValidationError
from music_genre.data.splits import stratified_split


def test_stratified_and_seeded(synthetic_prepared):
    rest, test = stratified_split(synthetic_prepared, 0.3, seed=42)
    assert len(rest) + len(test) == len(synthetic_prepared)
    assert len(test) == pytest.approx(0.3 * len(synthetic_prepared), abs=1)
    shares = synthetic_prepared["genre"].value_counts(normalize=True)
    test_shares = test["genre"].value_counts(normalize=True)
    assert (test_shares - shares).abs().max() < 0.01
    _, again_test = stratified_split(synthetic_prepared, 0.3, seed=42)
    pd.testing.assert_frame_equal(test, again_test)
    _, other_test = stratified_split(synthetic_prepared, 0.3, seed=1)
    assert not test.equals(other_test)


def test_genre_with_one_row_is_a_clear_error(synthetic_prepared):
    lonely = synthetic_prepared[synthetic_prepared["genre"] == "Pop"].head(1)
    table = pd.concat([synthetic_prepared[synthetic_prepared["genre"] != "Pop"], lonely])
    with pytest.raises(DataValidationError, match=r"genre 'Pop' has 1 row"):
        stratified_split(table, 0.3, seed=0)
