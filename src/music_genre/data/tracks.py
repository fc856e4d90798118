"""Group identity: which rows of the table are the same entity, and where their labels disagree.

The contract's `groups` section names the entity (`groups.name`) and what identifies it: the
table's own `groups.id_column` when it has one, else the values of `groups.columns` (rows equal
in all of them are copies of one entity). Splits keep every copy of an entity on one side, and
check_data and eda report the entities that carry more than one label. The report keys are
named after the entity: `<name>s`, `repeated_<name>s`, `conflicting_<name>s`, ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from music_genre.data.contract import ContractError

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.data.contract import Contract, GroupSpec

# The working column that holds the group id (never written out).
_GROUP = "__group__"


def require_groups(contract: Contract) -> GroupSpec:
    """The contract's groups, or one line saying it declares none."""
    if contract.groups is None:
        raise ContractError("the contract declares no `groups:` (rows are split one by one)")
    return contract.groups


def track_ids(frame: pd.DataFrame, contract: Contract) -> pd.Series:
    """One id per row, equal for rows of the same entity (the table's own id if it has one)."""
    import pandas as pd

    groups = require_groups(contract)
    if groups.id_column is not None and groups.id_column in frame.columns:
        return frame[groups.id_column].astype("str").rename(groups.name)
    # A hash of the identifying values (NaN hashes alike), independent of the row order.
    return pd.util.hash_pandas_object(frame[list(groups.columns)], index=False).rename(groups.name)


def track_label(frame: pd.DataFrame, tracks: pd.Series, contract: Contract) -> pd.Series:
    """Per row, the label its entity carries most often (ties: the first in name order).

    A grouped split stratifies on this: an entity with conflicting labels is one unit.
    """
    target = contract.target
    counts = (
        frame[[target]]
        .assign(**{_GROUP: tracks.to_numpy()})
        .groupby([_GROUP, target], sort=True, observed=True)
        .size()
        .reset_index(name="rows")
        .sort_values([_GROUP, "rows", target], ascending=[True, False, True], kind="stable")
        .drop_duplicates(_GROUP)
        .set_index(_GROUP)[target]
    )
    return tracks.map(counts)


def label_conflicts(frame: pd.DataFrame, contract: Contract) -> dict[str, Any]:
    """How often an entity repeats and how often its copies disagree on the label."""
    name = require_groups(contract).name
    target = contract.target
    tracks = track_ids(frame, contract)
    per_track = frame[[target]].assign(**{_GROUP: tracks.to_numpy()}).groupby(_GROUP, sort=False)
    rows_per_track = per_track.size()
    labels_per_track = per_track[target].nunique()
    conflicting = labels_per_track[labels_per_track > 1].index
    conflict_rows = int(rows_per_track.loc[conflicting].sum())
    return {
        f"{name}s": len(rows_per_track),
        f"repeated_{name}s": int((rows_per_track > 1).sum()),
        f"rows_of_repeated_{name}s": int(rows_per_track[rows_per_track > 1].sum()),
        f"conflicting_{name}s": len(conflicting),
        "conflicting_rows": conflict_rows,
        "conflicting_share": conflict_rows / len(frame) if len(frame) else 0.0,
    }


def shared_tracks(frame: pd.DataFrame, labels: list[str], contract: Contract) -> pd.DataFrame:
    """Label x label: how many entities carry both labels (diagonal: entities of the label)."""
    import pandas as pd

    target = contract.target
    pairs = (
        frame[[target]].assign(**{_GROUP: track_ids(frame, contract).to_numpy()}).drop_duplicates()
    )
    membership = pd.crosstab(pairs[_GROUP], pairs[target]).reindex(columns=labels, fill_value=0)
    matrix = membership.T.dot(membership)
    return matrix.reindex(index=labels, columns=labels, fill_value=0)
