"""Track identity: which rows of the table are the same recording, and where they disagree.

The published table has no track id. A track is its audio-feature vector (TRACK_COLUMNS, the
columns that describe the recording); `title` is the playlist or album it was listed in, so the
same track appears once per playlist. A table that carries a TRACK_ID_COLUMN uses it instead.
Splits keep every copy of a track on one side, and check_data and eda report the tracks that
carry more than one genre.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from music_genre.data.features import TARGET, TRACK_COLUMNS, TRACK_ID_COLUMN

if TYPE_CHECKING:
    import pandas as pd


def track_ids(frame: pd.DataFrame) -> pd.Series:
    """One id per row, equal for rows of the same track (the table's own id if it has one)."""
    import pandas as pd

    if TRACK_ID_COLUMN in frame.columns:
        return frame[TRACK_ID_COLUMN].astype("str").rename("track")
    # A hash of the feature values (NaN hashes alike), independent of the row order.
    return pd.util.hash_pandas_object(frame[list(TRACK_COLUMNS)], index=False).rename("track")


def track_label(frame: pd.DataFrame, tracks: pd.Series) -> pd.Series:
    """Per row, the genre its track carries most often (ties: the first in name order).

    A grouped split stratifies on this: a track with conflicting labels is one unit.
    """
    counts = (
        frame.assign(track=tracks.to_numpy())
        .groupby(["track", TARGET], sort=True, observed=True)
        .size()
        .reset_index(name="rows")
        .sort_values(["track", "rows", TARGET], ascending=[True, False, True], kind="stable")
        .drop_duplicates("track")
        .set_index("track")[TARGET]
    )
    return tracks.map(counts)


def label_conflicts(frame: pd.DataFrame) -> dict[str, Any]:
    """How often a track repeats and how often its copies disagree on the genre."""
    tracks = track_ids(frame)
    per_track = frame.assign(track=tracks.to_numpy()).groupby("track", sort=False)
    rows_per_track = per_track.size()
    genres_per_track = per_track[TARGET].nunique()
    conflicting = genres_per_track[genres_per_track > 1].index
    conflict_rows = int(rows_per_track.loc[conflicting].sum())
    return {
        "tracks": len(rows_per_track),
        "repeated_tracks": int((rows_per_track > 1).sum()),
        "rows_of_repeated_tracks": int(rows_per_track[rows_per_track > 1].sum()),
        "conflicting_tracks": len(conflicting),
        "conflicting_rows": conflict_rows,
        "conflicting_share": conflict_rows / len(frame) if len(frame) else 0.0,
    }


def shared_tracks(frame: pd.DataFrame, genres: list[str]) -> pd.DataFrame:
    """Genre x genre: how many tracks carry both genres (diagonal: tracks of the genre)."""
    import pandas as pd

    pairs = frame.assign(track=track_ids(frame).to_numpy())[["track", TARGET]].drop_duplicates()
    membership = pd.crosstab(pairs["track"], pairs[TARGET]).reindex(columns=genres, fill_value=0)
    matrix = membership.T.dot(membership)
    return matrix.reindex(index=genres, columns=genres, fill_value=0)
