import pandas as pd
import pytest

from music_genre.core.errors import DataValidationError
from music_genre.data.contract import load_contract
from music_genre.data.splits import split_by, stratified_split
from music_genre.data.synthetic import generate
from support.data import PENGUINS_CONTRACT, songs_contract

SONGS = songs_contract()


def test_stratified_and_seeded(synthetic_prepared):
    rest, test = stratified_split(synthetic_prepared, SONGS, 0.3, seed=42)
    assert len(rest) + len(test) == len(synthetic_prepared)
    assert len(test) == pytest.approx(0.3 * len(synthetic_prepared), abs=1)
    shares = synthetic_prepared["genre"].value_counts(normalize=True)
    test_shares = test["genre"].value_counts(normalize=True)
    assert (test_shares - shares).abs().max() < 0.01
    _, again_test = stratified_split(synthetic_prepared, SONGS, 0.3, seed=42)
    pd.testing.assert_frame_equal(test, again_test)
    _, other_test = stratified_split(synthetic_prepared, SONGS, 0.3, seed=1)
    assert not test.equals(other_test)


def test_genre_with_one_row_is_a_clear_error(synthetic_prepared):
    lonely = synthetic_prepared[synthetic_prepared["genre"] == "Pop"].head(1)
    table = pd.concat([synthetic_prepared[synthetic_prepared["genre"] != "Pop"], lonely])
    with pytest.raises(DataValidationError) as error:
        stratified_split(table, SONGS, 0.3, seed=0)
    assert str(error.value) == (
        "column 'genre': genre 'Pop' has 1 row(s); a stratified test split needs at least 2 "
        "per genre"
    )


def test_the_target_comes_from_the_contract():
    penguins = load_contract(PENGUINS_CONTRACT)
    table = generate(300, 1, penguins)
    _, held_out = split_by(table, penguins, "none", 0.25, 3)
    assert len(held_out) == pytest.approx(75, abs=1)
    shares = table["species"].value_counts(normalize=True)
    assert (held_out["species"].value_counts(normalize=True) - shares).abs().max() < 0.02
    adelie = table["species"] == "Adelie"
    lonely = pd.concat([table[~adelie], table[adelie].head(1)])
    with pytest.raises(DataValidationError, match=r"^column 'species': species 'Adelie' has 1 row"):
        stratified_split(lonely, penguins, 0.3, 0)
