"""Seeded, stratified splits (segregate's train/test and train's train/validation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from music_genre.core.errors import DataValidationError
from music_genre.data.features import TARGET

if TYPE_CHECKING:
    import pandas as pd


# segregate.group_by: "track" groups the rows of a track; "none" splits rows one by one.
GROUP_BY_TRACK = "track"


def stratified_split(
    frame: pd.DataFrame, test_size: float, seed: int, what: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `frame` into (rest, held-out) with every genre in the same proportion in both.

    Rows are split one by one: copies of a track can land on both sides (see grouped_split).
    """
    return _split_units(frame, frame[TARGET], test_size, seed, what=what, unit="row")


def grouped_split(
    frame: pd.DataFrame, test_size: float, seed: int, what: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split whole tracks: every copy of a track on one side, stratified by each track's genre.

    A track's genre for the stratification is the one its copies carry most often, so the
    genres' shares come out as close to `test_size` as whole tracks allow (split_report).
    """
    from music_genre.data.tracks import track_ids, track_label

    tracks = track_ids(frame)
    units = (
        frame.assign(track=tracks.to_numpy(), label=track_label(frame, tracks).to_numpy())
        .drop_duplicates("track")[["track", "label"]]
        .reset_index(drop=True)
    )
    _, held_out = _split_units(units, units["label"], test_size, seed, what=what, unit="track")
    in_held_out = tracks.isin(held_out["track"]).to_numpy()
    # Rows keep the table's order on each side; the sides follow the seeded split of tracks.
    return (
        frame[~in_held_out].reset_index(drop=True),
        frame[in_held_out].reset_index(drop=True),
    )


def split_by(
    group_by: str, frame: pd.DataFrame, test_size: float, seed: int, what: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The split params.yaml's `segregate.group_by` names (segregate's and train's)."""
    if group_by == GROUP_BY_TRACK:
        return grouped_split(frame, test_size, seed, what)
    return stratified_split(frame, test_size, seed, what)


def _split_units(
    units: pd.DataFrame,
    labels: pd.Series,
    test_size: float,
    seed: int,
    *,
    what: str,
    unit: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    counts = labels.value_counts()
    too_small = counts[counts < 2].sort_index()  # the first genre by name, not by sort
    if len(too_small):
        raise DataValidationError(
            f"column '{TARGET}': genre '{too_small.index[0]}' has {too_small.iloc[0]} "
            f"{unit}(s); a stratified {what} split needs at least 2 per genre"
        )
    try:
        rest, held_out = train_test_split(
            units, test_size=test_size, stratify=labels, random_state=seed
        )
    except ValueError as error:
        raise DataValidationError(
            f"column '{TARGET}': cannot make a stratified {what} split of {len(units)} {unit}s "
            f"with {what}_size={test_size} ({error})"
        ) from None
    return rest.reset_index(drop=True), held_out.reset_index(drop=True)


def split_report(
    rest: pd.DataFrame, held_out: pd.DataFrame, group_by: str, what: str = "test"
) -> dict[str, Any]:
    """What a split achieved: rows and tracks per side, shared tracks, each genre's share."""
    from music_genre.data.tracks import track_ids

    rest_tracks, held_tracks = set(track_ids(rest)), track_ids(held_out)
    shared = held_tracks.isin(rest_tracks)
    held_counts = held_out[TARGET].value_counts()
    totals = held_counts.add(rest[TARGET].value_counts(), fill_value=0)
    per_genre = held_counts.reindex(totals.index, fill_value=0) / totals
    return {
        "group_by": group_by,
        "rows": {"rest": len(rest), what: len(held_out)},
        f"{what}_share": len(held_out) / max(len(rest) + len(held_out), 1),
        "tracks": {"rest": len(rest_tracks), what: int(held_tracks.nunique())},
        f"{what}_rows_whose_track_is_also_in_rest": int(shared.sum()),
        f"{what}_tracks_also_in_rest": int(held_tracks[shared].nunique()),
        f"{what}_share_per_genre": {
            str(genre): round(float(share), 6) for genre, share in sorted(per_genre.items())
        },
    }
