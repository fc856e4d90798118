"""data.synthetic: tables that follow the contract, from a per-class spec or the contract alone."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from music_genre.core.errors import DataSourceError
from music_genre.data.contract import Contract, load_contract
from music_genre.data.schema import preprocessed_schema
from music_genre.data.synthetic import build_spec, generate, load_spec
from music_genre.pipeline.preprocess import preprocess
from support.data import PENGUINS_CONTRACT, songs_contract, songs_spec, synthetic_songs, with_text

SONGS = songs_contract()
PENGUINS = load_contract(PENGUINS_CONTRACT)
TWO_TEXTS = with_text(PENGUINS, "notes", "comment")
# Integer classes, unbounded numbers, a bool, a string without declared values, no groups.
MINIMAL = Contract.model_validate(
    {
        "name": "items",
        "row": "item",
        "target": "label",
        "columns": {
            "label": {"role": "target", "dtype": "int64", "values": [0, 1, 2]},
            "size": {"role": "numeric", "dtype": "float64", "nullable": True},
            "count": {"role": "numeric", "dtype": "int64", "range": [0, 5000]},
            "visits": {"role": "numeric", "dtype": "int64"},
            "flag": {"role": "categorical", "dtype": "bool"},
            "shop": {"role": "categorical", "dtype": "str"},
            "level": {"role": "categorical", "dtype": "int64", "range": [1, 4]},
            "comment": {"role": "text", "dtype": "str", "nullable": True},
        },
        "text": {"columns": ["comment"]},
    }
)


def digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    layout = json.dumps([[str(name), str(dtype)] for name, dtype in frame.dtypes.items()])
    return hashlib.sha256(hashed + layout.encode()).hexdigest()[:16]


def test_the_songs_spec_draws_the_same_table_as_before_the_contract():
    # Pinned before issue #29: get_data's synthetic table (and every test built on it) is the
    # same, value for value, now that the columns come from contract.yaml.
    assert digest(synthetic_songs(500, 1)) == "ff7ef4c004902aa2"


def test_same_seed_same_table_and_other_seed_differs():
    pd.testing.assert_frame_equal(synthetic_songs(800, seed=1), synthetic_songs(800, seed=1))
    assert not synthetic_songs(800, seed=1).equals(synthetic_songs(800, seed=2))
    pd.testing.assert_frame_equal(generate(300, 4, PENGUINS), generate(300, 4, PENGUINS))
    assert not generate(300, 4, PENGUINS).equals(generate(300, 5, PENGUINS))


def test_schema_matches_the_real_table():
    table = synthetic_songs(5000, seed=0)
    assert len(table) == 5000
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == SONGS.raw_dtypes
    assert set(table["genre"]) == set(SONGS.classes)


def test_shaped_like_the_real_data():
    table = synthetic_songs(20_000, seed=0)
    assert 0.15 < table["loudness"].isna().mean() < 0.28
    assert table.duplicated().sum() > 0
    electronic = table["genre"].str.islower()
    # As in the real data: titles for the electronic genres, song names for the others.
    assert table.loc[electronic, "title"].notna().all()
    assert table.loc[electronic, "song_name"].isna().all()
    assert table.loc[~electronic, "title"].isna().all()
    for column in SONGS.text_columns:
        assert table[column].isna().any()
    means = table.groupby("genre")["tempo"].mean()
    assert means["dnb"] > means["Emo"] + 20


@pytest.mark.parametrize("contract", [PENGUINS, TWO_TEXTS, MINIMAL, SONGS], ids=lambda c: c.name)
def test_from_the_contract_alone_the_table_passes_its_own_schema(contract):
    table = generate(1500, 3, contract)
    assert len(table) == 1500
    assert list(table.columns) == list(contract.raw_columns)
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == contract.raw_dtypes
    assert sorted(map(str, table[contract.target].unique())) == sorted(contract.classes)
    assert table.duplicated().sum() == pytest.approx(30, abs=3)  # DUPLICATE_FRACTION
    for column in contract.nullable_columns | set(contract.text_columns):
        assert 0.05 < table[column].isna().mean() < 0.15, column
    preprocessed_schema(contract).validate(preprocess(table, contract))


def test_from_the_contract_each_class_has_words_and_values_of_its_own():
    table = generate(3000, 0, TWO_TEXTS)
    words = table.groupby("species")["notes"].apply(
        lambda texts: set(" ".join(texts.dropna()).split())
    )
    own = {
        label: {word for word in found if not word.startswith("common")}
        for label, found in words.items()
    }
    assert not own["Adelie"] & own["Gentoo"]
    means = table.groupby("species")["body_mass_g"].mean()
    assert means.max() - means.min() > 300  # the classes are centred apart
    assert set(table["island"]) == {"Biscoe", "Dream", "Torgersen"}
    unbounded = generate(2000, 0, MINIMAL)
    assert unbounded["size"].std() > 0.05 and set(unbounded["level"]) == {1, 2, 3, 4}
    assert unbounded["shop"].str.startswith("shop_").all() and unbounded["flag"].any()


def test_a_spec_round_trips_through_the_generator():
    table = generate(6000, 2, SONGS, songs_spec())
    spec = build_spec(table, SONGS)
    assert sorted(spec["classes"]) == sorted(SONGS.classes)
    assert spec["constants"] == {"type": "audio_features"}
    for label, profile in spec["classes"].items():
        assert profile["weight"] == pytest.approx(
            songs_spec()["classes"][label]["weight"], abs=0.01
        )
    again = generate(6000, 2, SONGS, spec)
    assert np.isclose(again["tempo"].mean(), table["tempo"].mean(), rtol=0.02)


def test_a_bad_spec_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(DataSourceError, match=r"nope.json: synthetic spec not found"):
        load_spec(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataSourceError, match=r"bad.json: not valid JSON"):
        load_spec(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text('{"duplicate_fraction": 0.1, "genres": {}}')
    with pytest.raises(DataSourceError, match=r"old.json: not a synthetic spec"):
        load_spec(tmp_path / "old.json")
