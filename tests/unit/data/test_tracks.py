"""Track identity, label conflicts and the grouped split (no track on both sides)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music_genre.data.features import TARGET, TRACK_COLUMNS
from music_genre.data.splits import grouped_split, split_report, stratified_split
from music_genre.data.tracks import label_conflicts, shared_tracks, track_ids


def songs(rows):
    """A table of tracks given as (track number, genre, title) rows."""
    frame = pd.DataFrame(
        {
            column: [float(track) + index / 100 for track, _, _ in rows]
            for index, column in enumerate(TRACK_COLUMNS)
        }
    )
    frame[TARGET] = [genre for _, genre, _ in rows]
    frame["title"] = [title for _, _, title in rows]
    return frame


HAND_MADE = songs(
    [
        (1, "Trap Metal", "playlist a"),
        (1, "Dark Trap", "playlist b"),  # track 1: two genres
        (1, "Dark Trap", "playlist c"),
        (2, "Emo", "playlist a"),
        (2, "Emo", "playlist d"),  # track 2: repeated, one genre
        (3, "Pop", "playlist e"),
        (4, "Pop", "playlist e"),
        (5, "Emo", "playlist f"),
        (5, "Pop", "playlist g"),  # track 5: two genres
    ]
)


def test_conflict_counts_on_a_hand_made_table():
    assert label_conflicts(HAND_MADE) == {
        "tracks": 5,
        "repeated_tracks": 3,
        "rows_of_repeated_tracks": 7,
        "conflicting_tracks": 2,
        "conflicting_rows": 5,
        "conflicting_share": 5 / 9,
    }


def test_shared_tracks_matrix():
    genres = ["Dark Trap", "Emo", "Pop", "Trap Metal"]
    matrix = shared_tracks(HAND_MADE, genres)
    assert matrix.loc["Dark Trap", "Trap Metal"] == matrix.loc["Trap Metal", "Dark Trap"] == 1
    assert matrix.loc["Emo", "Pop"] == 1
    assert matrix.loc["Emo", "Emo"] == 2 and matrix.loc["Pop", "Pop"] == 3
    assert matrix.loc["Dark Trap", "Emo"] == 0


def test_a_missing_value_is_part_of_the_identity():
    frame = songs([(1, "Emo", "a"), (1, "Emo", "b"), (2, "Emo", "c")])
    frame.loc[[0, 1], "loudness"] = np.nan
    ids = track_ids(frame)
    assert ids[0] == ids[1] != ids[2]


def test_a_track_id_column_wins_over_the_features():
    frame = songs([(1, "Emo", "a"), (1, "Emo", "b")]).assign(track_id=["x", "y"])
    assert track_ids(frame).nunique() == 2


@st.composite
def tables(draw):
    """Random tables: 3 genres, tracks repeated up to 4 times, some with a conflicting genre.

    A conflicting copy stays a minority (one of at least three), so every track keeps its genre
    and each genre keeps the 2+ tracks a stratified split needs.
    """
    genres = ["Emo", "Pop", "Trap"]
    n_tracks = draw(st.integers(min_value=12, max_value=60))
    rows = []
    for track in range(n_tracks):
        genre = genres[track % 3]
        copies = draw(st.integers(min_value=1, max_value=4))
        for copy in range(copies):
            conflicting = copies >= 3 and copy == copies - 1 and draw(st.booleans())
            rows.append((track, genres[(track + 1) % 3] if conflicting else genre, f"p{copy}"))
    return songs(rows)


@settings(max_examples=60, deadline=None)
@given(table=tables(), seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_a_grouped_split_never_puts_a_track_on_both_sides(table, seed):
    rest, held_out = grouped_split(table, 0.3, seed)
    assert len(rest) + len(held_out) == len(table)
    assert not set(track_ids(rest)) & set(track_ids(held_out))
    report = split_report(rest, held_out, "track")
    assert report["test_rows_whose_track_is_also_in_rest"] == 0
    # The same seed gives the same split.
    again_rest, _ = grouped_split(table, 0.3, seed)
    pd.testing.assert_frame_equal(rest, again_rest)


def test_grouped_split_keeps_genre_shares_close(synthetic_prepared):
    rest, held_out = grouped_split(synthetic_prepared, 0.3, seed=42)
    report = split_report(rest, held_out, "track")
    assert report["test_share"] == pytest.approx(0.3, abs=0.02)
    assert all(abs(share - 0.3) < 0.05 for share in report["test_share_per_genre"].values())


def test_the_row_split_is_still_reachable_and_leaks():
    table = songs(
        [
            (track, "Emo" if track % 2 else "Pop", f"p{copy}")
            for track in range(40)
            for copy in range(3)
        ]
    )
    rest, held_out = stratified_split(table, 0.3, seed=0)
    assert split_report(rest, held_out, "none")["test_rows_whose_track_is_also_in_rest"] > 0
