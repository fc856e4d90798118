"""modeling.dask_booster: LightGBM's Dask estimator's pitfalls, handled without a cluster:
global class weights, the ranks in a fixed order, no early stopping, canonical state."""

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_sample_weight

from music_genre.core.cluster import ClusterError
from music_genre.modeling.dask_booster import (
    EARLY_STOPPING,
    RankedClient,
    dask_arguments,
    sample_weights,
)
from support.models import small_model_params


def test_class_weights_are_the_balanced_weights_of_all_fit_rows():
    labels = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 12)
    counts = {label: int((labels == label).sum()) for label in "abc"}
    weights = sample_weights("balanced", counts)
    np.testing.assert_array_equal(
        [weights[label] for label in labels], compute_sample_weight("balanced", labels)
    )
    assert sample_weights({"a": 2.0}, counts) == {"a": 2.0, "b": 1.0, "c": 1.0}
    assert sample_weights(None, counts) is None


def test_the_dask_estimator_gets_the_rounds_and_no_early_stopping_or_class_weight():
    train = small_model_params().train
    arguments = dask_arguments(train, 37)
    assert arguments["n_estimators"] == 37 and arguments["class_weight"] is None
    assert arguments["is_provide_training_metric"] is True  # the training curve, every round
    assert not set(arguments) & set(EARLY_STOPPING)
    kept = {"n_estimators", "class_weight", "is_provide_training_metric"}
    assert {k: v for k, v in arguments.items() if k not in kept} == {
        k: v for k, v in train.lightgbm.items() if k not in (*EARLY_STOPPING, *kept)
    }


class _Client:
    """A stand-in for distributed.Client: who_has answers in the order of a set."""

    def __init__(self, holders):
        self.holders = holders

    def who_has(self, futures=None, **kwargs):
        return {key: [worker] for key, worker in self.holders.items()}

    def ncores(self):
        return {"tcp://b:1": 1, "tcp://a:1": 1}


def test_lightgbms_parts_are_listed_in_rank_order_one_per_worker():
    ranked = RankedClient(
        _Client({"k2": "tcp://a:1", "k1": "tcp://b:1"}), ["tcp://b:1", "tcp://a:1"]
    )
    assert list(ranked.who_has()) == ["k1", "k2"]
    assert ranked.ncores() == {"tcp://b:1": 1, "tcp://a:1": 1}  # everything else is the client's
    both_on_one = RankedClient(
        _Client({"k1": "tcp://a:1", "k2": "tcp://a:1"}), ["tcp://b:1", "tcp://a:1"]
    )
    with pytest.raises(ClusterError, match="did not land one per worker"):
        both_on_one.who_has()


def test_the_workers_curves_add_up_weighted_by_their_rows():
    from fractions import Fraction

    from music_genre.modeling.dask_booster import combine_curves

    per_worker = [[(1.0, 2.0), (0.5, 1.5)], [(3.0, 4.0), (1.5, 2.5)]]
    curves = combine_curves(per_worker, [Fraction(1), Fraction(3)], [10, 30])
    assert curves == {"training": [2.5, 1.25], "validation": [3.5, 2.25]}


class _Env:
    def __init__(self, training, validation):
        class _Model:
            def eval_train(self):
                return [type("R", (), {"metric_value": training})()]

        self.model = _Model()
        self.evaluation_result_list = [("validation", "multi_logloss", validation, False)]


def test_each_worker_records_its_own_losses_round_by_round(monkeypatch):
    import dask.distributed

    from music_genre.modeling.dask_booster import CurveRecorder, recorded

    class _Worker:
        address = "tcp://w:1"

    monkeypatch.setattr(dask.distributed, "get_worker", _Worker)
    recorder = CurveRecorder("fit-1")
    recorder(_Env(0.9, 1.1))
    recorder(_Env(0.8, 1.0))
    assert recorded("fit-1", dask_worker=_Worker()) == [(0.9, 1.1), (0.8, 1.0)]
    assert recorded("fit-1", dask_worker=_Worker()) == []  # taken once
