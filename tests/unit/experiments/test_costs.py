"""experiments.costs: decision nodes counted per estimator family, the choice under a cap
with its ties, and the Pareto front against a brute-force definition."""

from __future__ import annotations

import random

import numpy as np
import pytest

from music_genre.experiments.costs import choose, decision_nodes, pareto_front, trial_costs


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 4))
    labels = np.array(["a", "b", "c"])[(features[:, 0] > 0).astype(int) + (features[:, 1] > 0.5)]
    return features, labels


def test_lightgbm_nodes_are_the_trees_internal_nodes(data):
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(n_estimators=7, num_leaves=5, verbose=-1).fit(*data)
    frame = model.booster_.trees_to_dataframe()
    assert decision_nodes(model) == int(frame["split_feature"].notna().sum()) > 0


def test_hist_gradient_boosting_and_forest_nodes(data):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    hist = HistGradientBoostingClassifier(max_iter=5, max_leaf_nodes=6, random_state=0).fit(*data)
    expected = sum(
        int((tree.nodes["is_leaf"] == 0).sum()) for trees in hist._predictors for tree in trees
    )
    assert decision_nodes(hist) == expected > 0
    forest = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(*data)
    assert decision_nodes(forest) == sum(
        (tree.tree_.node_count - tree.tree_.n_leaves) for tree in forest.estimators_
    )
    assert decision_nodes(LogisticRegression().fit(*data)) is None


def test_trial_costs_measure_a_fitted_pipeline(data):
    import pandas as pd
    from lightgbm import LGBMClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = Pipeline([("scale", StandardScaler()), ("model", LGBMClassifier(n_estimators=5))])
    pipeline.set_params(model__verbose=-1).fit(*data)
    costs = trial_costs(pipeline, pd.DataFrame(data[0]), fit_seconds=1.23456)
    assert costs["nodes"] == decision_nodes(pipeline[-1])
    assert costs["fit_seconds"] == 1.235 and costs["model_bytes"] > 1000
    assert costs["scoring_ms_per_10k"] > 0


def _row(number, value, nodes, state="complete"):
    return {"number": number, "state": state, "value": value, "costs": {"nodes": nodes}}


def test_choose_takes_the_best_within_the_cap_and_breaks_ties_by_nodes_then_number():
    rows = [
        _row(0, 0.90, 500),
        _row(1, 0.95, 900),
        _row(2, 0.93, 300),
        _row(3, 0.93, 200),
        _row(4, 0.97, 100, state="pruned"),
        _row(5, 0.93, 200),
    ]
    assert choose(rows, True, None)["number"] == 1
    assert choose(rows, True, 600)["number"] == 3  # 0.93 thrice: fewest nodes, then earliest
    assert choose(rows, False, None)["number"] == 0  # a loss: the lowest value
    assert choose(rows, True, 150) is None  # only a pruned trial is that small
    assert choose([_row(0, 0.9, None)], True, 10) is None  # no count: never within a cap


def _dominated(row, rows, maximise):
    """Brute force: another trial with as few nodes and a score as good, better on one of
    them (or, tied on both, earlier)."""

    def better(a, b):
        return a > b if maximise else a < b

    return any(
        other is not row
        and other["costs"]["nodes"] <= row["costs"]["nodes"]
        and not better(row["value"], other["value"])
        and (
            other["costs"]["nodes"] < row["costs"]["nodes"]
            or better(other["value"], row["value"])
            or other["number"] < row["number"]
        )
        for other in rows
    )


def test_the_pareto_front_is_every_trial_nothing_beats_on_both():
    generator = random.Random(3)
    for _ in range(200):
        rows = [
            _row(n, generator.choice([0.9, 0.91, 0.92, 0.93]), generator.choice([1, 2, 3, 5, 8]))
            for n in range(generator.randrange(1, 12))
        ]
        for maximise in (True, False):
            expected = sorted(
                (r for r in rows if not _dominated(r, rows, maximise)),
                key=lambda r: r["costs"]["nodes"],
            )
            assert pareto_front(rows, maximise) == [r["number"] for r in expected]
