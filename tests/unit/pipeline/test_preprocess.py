import pandas as pd

from music_genre.pipeline.preprocess import add_text_feature, preprocess


def test_drops_duplicates_fills_text_and_keeps_dtypes(synthetic_raw):
    before = synthetic_raw.copy()
    prepared = preprocess(synthetic_raw)
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
    result = add_text_feature(frame)
    assert result["text_feature"].tolist() == ["Album ", " Song", " "]
    assert result["title"].tolist() == ["Album", "", ""]
