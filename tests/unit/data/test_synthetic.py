import pandas as pd

from music_genre.data.features import RAW_DTYPES, TEXT_COLUMNS
from music_genre.data.genres import GENRES
from music_genre.data.synthetic import generate


def test_same_seed_same_table_and_other_seed_differs():
    pd.testing.assert_frame_equal(generate(800, seed=1), generate(800, seed=1))
    assert not generate(800, seed=1).equals(generate(800, seed=2))


def test_schema_matches_the_real_table():
    table = generate(5000, seed=0)
    assert len(table) == 5000
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == RAW_DTYPES
    assert set(table["genre"]) == set(GENRES)


def test_shaped_like_the_real_data():
    table = generate(20_000, seed=0)
    assert 0.15 < table["loudness"].isna().mean() < 0.28
    assert table.duplicated().sum() > 0
    electronic = table["genre"].str.islower()
    # As in the real data: titles for the electronic genres, song names for the others.
    assert table.loc[electronic, "title"].notna().all()
    assert table.loc[electronic, "song_name"].isna().all()
    assert table.loc[~electronic, "title"].isna().all()
    for column in TEXT_COLUMNS:
        assert table[column].isna().any()
    means = table.groupby("genre")["tempo"].mean()
    assert means["dnb"] > means["Emo"] + 20
