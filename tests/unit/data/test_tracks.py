"""Group identity, label conflicts and the grouped split (no entity on both sides), from the
contract's `groups`."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music_genre.core.errors import ParamsError
from music_genre.data.contract import ContractError, load_contract
from music_genre.data.splits import (
    check_group_by,
    group_by_choices,
    grouped_split,
    split_by,
    split_report,
    stratified_split,
)
from music_genre.data.tracks import label_conflicts, shared_tracks, track_ids
from support.data import PENGUINS_CONTRACT, songs_contract

SONGS = songs_contract()
PENGUINS = load_contract(PENGUINS_CONTRACT)
TARGET = SONGS.target


def songs(rows):
    """A table of tracks given as (track number, genre, title) rows."""
    frame = pd.DataFrame(
        {
            column: [float(track) + index / 100 for track, _, _ in rows]
            for index, column in enumerate(SONGS.groups.columns)
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
    assert label_conflicts(HAND_MADE, SONGS) == {
        "tracks": 5,
        "repeated_tracks": 3,
        "rows_of_repeated_tracks": 7,
        "conflicting_tracks": 2,
        "conflicting_rows": 5,
        "conflicting_share": 5 / 9,
    }


def test_the_report_keys_are_named_after_the_entity():
    renamed = SONGS.model_copy(
        update={"groups": SONGS.groups.model_copy(update={"name": "recording"})}
    )
    assert set(label_conflicts(HAND_MADE, renamed)) == {
        "recordings",
        "repeated_recordings",
        "rows_of_repeated_recordings",
        "conflicting_recordings",
        "conflicting_rows",
        "conflicting_share",
    }


def test_shared_tracks_matrix():
    genres = ["Dark Trap", "Emo", "Pop", "Trap Metal"]
    matrix = shared_tracks(HAND_MADE, genres, SONGS)
    assert matrix.loc["Dark Trap", "Trap Metal"] == matrix.loc["Trap Metal", "Dark Trap"] == 1
    assert matrix.loc["Emo", "Pop"] == 1
    assert matrix.loc["Emo", "Emo"] == 2 and matrix.loc["Pop", "Pop"] == 3
    assert matrix.loc["Dark Trap", "Emo"] == 0


def test_a_missing_value_is_part_of_the_identity():
    frame = songs([(1, "Emo", "a"), (1, "Emo", "b"), (2, "Emo", "c")])
    frame.loc[[0, 1], "loudness"] = np.nan
    ids = track_ids(frame, SONGS)
    assert ids[0] == ids[1] != ids[2]


def test_the_id_is_a_hash_of_exactly_the_group_columns():
    frame = HAND_MADE.assign(title="other playlist")  # not a group column: same ids
    pd.testing.assert_series_equal(track_ids(frame, SONGS), track_ids(HAND_MADE, SONGS))
    expected = pd.util.hash_pandas_object(HAND_MADE[list(SONGS.groups.columns)], index=False)
    assert track_ids(HAND_MADE, SONGS).tolist() == expected.tolist()


def test_a_track_id_column_wins_over_the_features():
    frame = songs([(1, "Emo", "a"), (1, "Emo", "b")]).assign(track_id=["x", "y"])
    assert track_ids(frame, SONGS).nunique() == 2


def test_without_groups_there_is_no_entity_and_only_the_row_split():
    assert group_by_choices(PENGUINS) == ("none",)
    assert group_by_choices(SONGS) == ("track", "none")
    with pytest.raises(ContractError, match=r"declares no `groups:`"):
        track_ids(HAND_MADE, PENGUINS)
    with pytest.raises(ParamsError) as error:
        check_group_by("track", PENGUINS)
    assert str(error.value) == (
        "params.yaml: 'segregate.group_by' is 'track', expected one of: 'none' "
        "(the contract declares no groups)"
    )
    with pytest.raises(ParamsError, match=r"expected one of: 'track', 'none'$"):
        split_by(HAND_MADE, SONGS, "album", 0.3, 0)


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
    rest, held_out = grouped_split(table, SONGS, 0.3, seed)
    assert len(rest) + len(held_out) == len(table)
    assert not set(track_ids(rest, SONGS)) & set(track_ids(held_out, SONGS))
    report = split_report(rest, held_out, SONGS, "track")
    assert report["test_rows_whose_track_is_also_in_rest"] == 0
    # The same seed gives the same split.
    again_rest, _ = grouped_split(table, SONGS, 0.3, seed)
    pd.testing.assert_frame_equal(rest, again_rest)


def test_grouped_split_keeps_genre_shares_close(synthetic_prepared):
    rest, held_out = grouped_split(synthetic_prepared, SONGS, 0.3, seed=42)
    report = split_report(rest, held_out, SONGS, "track")
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
    rest, held_out = stratified_split(table, SONGS, 0.3, seed=0)
    assert split_report(rest, held_out, SONGS, "none")["test_rows_whose_track_is_also_in_rest"] > 0


def test_a_split_report_without_groups_has_no_entity_entries():
    table = pd.DataFrame({"species": ["Adelie", "Gentoo", "Chinstrap"] * 10, "x": range(30)})
    rest, held_out = split_by(table, PENGUINS, "none", 0.3, 0, what="validation")
    report = split_report(rest, held_out, PENGUINS, "none", "validation")
    assert set(report) == {"group_by", "rows", "validation_share", "validation_share_per_species"}
    assert report["validation_share_per_species"] == {
        "Adelie": 0.3,
        "Chinstrap": 0.3,
        "Gentoo": 0.3,
    }
