"""What a tuning trial's model costs beside what it scores, and the choice made on both.

Each completed trial records four costs:

- `nodes`: the decision nodes of its fitted trees (every tree of every class). Scoring walks
  them, so the scoring cost grows with them; unlike a time, the count is the same on every
  machine and every run, so it is what a cap and the Pareto front are computed on.
- `scoring_ms_per_10k`: the fitted pipeline's `predict_proba` on (at most) SCORED_ROWS rows of
  train's validation part, timed and scaled to 10,000 rows: preprocessing included, one run,
  on whatever the machine is doing then (a measure, never a decision).
- `fit_seconds`: the trial's wall time, preprocessing included when it was not cached.
- `model_bytes`: the fitted pipeline's pickle, as the train stage would store it.

`pareto_front` lists the completed trials no other trial beats on both score and nodes;
`choose` takes the best score among the trials within `tune.max_nodes` (all of them without a
cap). Ties go to fewer nodes, then the earlier trial: never to the order of a sort.
"""

from __future__ import annotations

# Only dumps (for the size), never loads.
import pickle  # nosec B403
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

# Validation rows scored to measure the scoring time (the first ones, in table order): on the
# songs model the measure (these rows and the pickle) takes about 1 s of a 20 s trial.
SCORED_ROWS: Final = 500
PER_ROWS: Final = 10_000


def decision_nodes(classifier: Any) -> int | None:
    """The decision (internal) nodes of a fitted tree model's trees; None when it has no trees
    (e.g. logistic regression)."""
    booster = getattr(classifier, "booster_", None)
    if booster is not None:  # LightGBM: a tree of n leaves has n - 1 decision nodes
        return sum(
            int(line.split("=", 1)[1]) - 1
            for line in booster.model_to_string().splitlines()
            if line.startswith("num_leaves=")
        )
    predictors = getattr(classifier, "_predictors", None)
    if predictors is not None:  # HistGradientBoosting: rounds x classes of TreePredictor
        leaves = [tree.nodes["is_leaf"].astype(bool) for trees in predictors for tree in trees]
        return sum(int((~is_leaf).sum()) for is_leaf in leaves)
    estimators = getattr(classifier, "estimators_", None)
    if estimators is not None:  # forests of scikit-learn trees
        trees = [tree for row in estimators for tree in (row if hasattr(row, "__len__") else [row])]
        if all(hasattr(tree, "tree_") for tree in trees):
            return sum(int((tree.tree_.children_left != -1).sum()) for tree in trees)
    return None


def trial_costs(pipeline: Any, validation_features: Any, fit_seconds: float) -> dict[str, Any]:
    """The four costs of a fitted trial pipeline (see the module's docstring)."""
    rows = validation_features.iloc[:SCORED_ROWS]
    start = time.perf_counter()
    pipeline.predict_proba(rows)
    elapsed = time.perf_counter() - start
    return {
        "nodes": decision_nodes(pipeline[-1]),
        "scoring_ms_per_10k": round(elapsed * 1000 * PER_ROWS / max(len(rows), 1), 2),
        "fit_seconds": round(fit_seconds, 3),
        "model_bytes": len(pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL)),
    }


def _better(maximise: bool) -> Callable[[dict[str, Any]], tuple[float, float, int]]:
    """Sort key: best score first, then fewer nodes, then the earlier trial."""

    def key(row: dict[str, Any]) -> tuple[float, float, int]:
        nodes = (row.get("costs") or {}).get("nodes")
        score = row["value"]
        return (
            -score if maximise else score,
            float("inf") if nodes is None else nodes,
            row["number"],
        )

    return key


def choose(
    rows: Sequence[dict[str, Any]], maximise: bool, max_nodes: int | None
) -> dict[str, Any] | None:
    """The completed trial with the best score whose nodes are within `max_nodes` (None: no
    cap); None when no completed trial qualifies."""
    complete = [row for row in rows if row["state"] == "complete"]
    if max_nodes is not None:
        complete = [
            row
            for row in complete
            if (nodes := (row.get("costs") or {}).get("nodes")) is not None and nodes <= max_nodes
        ]
    return min(complete, key=_better(maximise)) if complete else None


def pareto_front(rows: Sequence[dict[str, Any]], maximise: bool) -> list[int]:
    """The numbers of the completed trials with nodes that no other completed trial beats on
    both (a score at least as good with fewer nodes, or a better score with as few), ordered
    from the fewest nodes."""
    measured = [
        row
        for row in rows
        if row["state"] == "complete" and (row.get("costs") or {}).get("nodes") is not None
    ]
    # Fewest nodes first, then the best score, then the earlier trial: walking in that order,
    # a trial is on the front when it scores better than every one before it.
    ordered = sorted(
        measured,
        key=lambda row: (
            row["costs"]["nodes"],
            -row["value"] if maximise else row["value"],
            row["number"],
        ),
    )
    front: list[int] = []
    best: float | None = None
    for row in ordered:
        value = row["value"]
        if best is None or (value > best if maximise else value < best):
            front.append(row["number"])
            best = value
    return front
