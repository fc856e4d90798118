import pandas as pd

from music_genre.data.contract import load_contract
from music_genre.data.synthetic import generate
from music_genre.pipeline.preprocess import preprocess, preprocess_file
from support.data import PENGUINS_CONTRACT, songs_contract, with_text

SONGS = songs_contract()
PENGUINS = load_contract(PENGUINS_CONTRACT)


def test_drops_duplicates_fills_text_and_keeps_dtypes(synthetic_raw):
    before = synthetic_raw.copy()
    prepared = preprocess(synthetic_raw, SONGS)
    pd.testing.assert_frame_equal(synthetic_raw, before)  # the input is not modified
    assert len(prepared) == len(synthetic_raw.drop_duplicates())
    assert not prepared.duplicated().any()
    assert prepared["title"].notna().all() and prepared["song_name"].notna().all()
    assert prepared["text_feature"].notna().all()
    for column, dtype in synthetic_raw.dtypes.items():
        assert prepared[column].dtype == dtype


def test_text_feature_is_title_space_song_name():
    frame = pd.DataFrame(
        {
            "title": pd.Series(["Album", None, None], dtype="str"),
            "song_name": pd.Series([None, "Song", None], dtype="str"),
        }
    )
    result = preprocess(frame, SONGS)
    assert result["text_feature"].tolist() == ["Album ", " Song", " "]
    assert result["title"].tolist() == ["Album", "", ""]


def test_two_text_columns_join_in_the_contract_order_and_all_missing_text_is_a_string():
    contract = with_text(PENGUINS, "notes", "comment", name="both")
    frame = pd.DataFrame(
        {
            "notes": pd.Series([None, None], dtype=object),  # as an all-missing column reads
            "comment": pd.Series(["b", None], dtype="str"),
        }
    )
    result = preprocess(frame, contract)
    assert result["both"].tolist() == [" b", " "]
    assert str(result["notes"].dtype) == "str"


def test_without_text_only_duplicates_go(tmp_path):
    raw = generate(400, 2, PENGUINS)
    prepared = preprocess(raw, PENGUINS)
    pd.testing.assert_frame_equal(prepared, raw.drop_duplicates(ignore_index=True))
    raw.to_parquet(tmp_path / "raw.parquet", index=False)
    preprocess_file(str(tmp_path / "raw.parquet"), str(tmp_path / "out.parquet"), PENGUINS)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), prepared)
