"""Seeded, stratified splits (segregate's train/test and train's train/validation).

params.yaml's `segregate.group_by` names the unit: the contract's `groups.name` keeps every copy
of an entity on one side; "none" splits rows one by one (the only choice without `groups:`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from music_genre.core.errors import DataValidationError, ParamsError

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.data.contract import Contract

# segregate.group_by: rows split one by one.
GROUP_BY_NONE: Final = "none"


def group_by_choices(contract: Contract) -> tuple[str, ...]:
    """The values segregate.group_by may take under `contract`."""
    if contract.groups is None:
        return (GROUP_BY_NONE,)
    return (contract.groups.name, GROUP_BY_NONE)


def check_group_by(group_by: str, contract: Contract) -> None:
    """One line naming params.yaml's segregate.group_by when the contract has no such unit."""
    choices = group_by_choices(contract)
    if group_by not in choices:
        why = "" if contract.groups else " (the contract declares no groups)"
        raise ParamsError(
            f"params.yaml: 'segregate.group_by' is {group_by!r}, expected one of: "
            f"{', '.join(map(repr, choices))}{why}"
        )


def stratified_split(
    frame: pd.DataFrame, contract: Contract, test_size: float, seed: int, what: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `frame` into (rest, held-out) with every class in the same proportion in both.

    Rows are split one by one: copies of an entity can land on both sides (see grouped_split).
    """
    target = contract.target
    return _split_units(frame, frame[target], test_size, seed, target=target, what=what, unit="row")


def grouped_split(
    frame: pd.DataFrame, contract: Contract, test_size: float, seed: int, what: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split whole entities: every copy on one side, stratified by each entity's label.

    An entity's label for the stratification is the one its copies carry most often, so the
    classes' shares come out as close to `test_size` as whole entities allow (split_report).
    """
    from music_genre.data.tracks import require_groups, track_ids, track_label

    name = require_groups(contract).name
    tracks = track_ids(frame, contract)
    units = (
        frame[[]]
        .assign(unit=tracks.to_numpy(), label=track_label(frame, tracks, contract).to_numpy())
        .drop_duplicates("unit")
        .reset_index(drop=True)
    )
    _, held_out = _split_units(
        units, units["label"], test_size, seed, target=contract.target, what=what, unit=name
    )
    in_held_out = tracks.isin(held_out["unit"]).to_numpy()
    # Rows keep the table's order on each side; the sides follow the seeded split of entities.
    return (
        frame[~in_held_out].reset_index(drop=True),
        frame[in_held_out].reset_index(drop=True),
    )


def split_by(
    frame: pd.DataFrame,
    contract: Contract,
    group_by: str,
    test_size: float,
    seed: int,
    *,
    what: str = "test",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The split params.yaml's `segregate.group_by` names (segregate's and train's)."""
    check_group_by(group_by, contract)
    if group_by == GROUP_BY_NONE:
        return stratified_split(frame, contract, test_size, seed, what)
    return grouped_split(frame, contract, test_size, seed, what)


def _split_units(
    units: pd.DataFrame,
    labels: pd.Series,
    test_size: float,
    seed: int,
    *,
    target: str,
    what: str,
    unit: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    counts = labels.value_counts()
    too_small = counts[counts < 2].sort_index()  # the first class by name, not by sort
    if len(too_small):
        raise DataValidationError(
            f"column '{target}': {target} '{too_small.index[0]}' has {too_small.iloc[0]} "
            f"{unit}(s); a stratified {what} split needs at least 2 per {target}"
        )
    try:
        rest, held_out = train_test_split(
            units, test_size=test_size, stratify=labels, random_state=seed
        )
    except ValueError as error:
        raise DataValidationError(
            f"column '{target}': cannot make a stratified {what} split of {len(units)} {unit}s "
            f"with {what}_size={test_size} ({error})"
        ) from None
    return rest.reset_index(drop=True), held_out.reset_index(drop=True)


def split_report(
    rest: pd.DataFrame,
    held_out: pd.DataFrame,
    contract: Contract,
    group_by: str,
    what: str = "test",
) -> dict[str, Any]:
    """What a split achieved: rows (and entities) per side, shared entities, each class's share.

    The entity entries, named after `groups.name`, are there whenever the contract has groups.
    """
    target = contract.target
    held_counts = held_out[target].value_counts()
    totals = held_counts.add(rest[target].value_counts(), fill_value=0)
    per_class = held_counts.reindex(totals.index, fill_value=0) / totals
    report: dict[str, Any] = {
        "group_by": group_by,
        "rows": {"rest": len(rest), what: len(held_out)},
        f"{what}_share": len(held_out) / max(len(rest) + len(held_out), 1),
        f"{what}_share_per_{target}": {
            str(label): round(float(share), 6) for label, share in sorted(per_class.items())
        },
    }
    if contract.groups is not None:
        report.update(_shared_entities(rest, held_out, contract, what))
    return report


def _shared_entities(
    rest: pd.DataFrame, held_out: pd.DataFrame, contract: Contract, what: str
) -> dict[str, Any]:
    from music_genre.data.tracks import require_groups, track_ids

    name = require_groups(contract).name
    rest_tracks, held_tracks = set(track_ids(rest, contract)), track_ids(held_out, contract)
    shared = held_tracks.isin(rest_tracks)
    return {
        f"{name}s": {"rest": len(rest_tracks), what: int(held_tracks.nunique())},
        f"{what}_rows_whose_{name}_is_also_in_rest": int(shared.sum()),
        f"{what}_{name}s_also_in_rest": int(held_tracks[shared].nunique()),
    }
