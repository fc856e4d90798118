"""modeling.distributed: the training recipe's twin on an in-process Dask cluster of two
workers gives the local backend's kind of model, the same bytes on every run and chunking,
and stops before fitting when a worker would lack a class."""

import numpy as np
import pandas as pd
import pytest

from music_genre.core.errors import DataValidationError, ParamsError
from music_genre.modeling.canonical import canonicalize_for_pickling
from music_genre.modeling.chunks import split_partitioned
from music_genre.modeling.distributed import Cluster, check_backend, train_model_distributed
from music_genre.modeling.fitting import Validation
from music_genre.modeling.recipe import train_model
from music_genre.pipeline.train import fit_and_validation
from support.data import songs_contract
from support.local_cluster import in_process_cluster, split_file
from support.models import small_model_params


@pytest.fixture(scope="module")
def cluster():
    with in_process_cluster() as client:
        yield Cluster(client, sorted(client.scheduler_info()["workers"]))


def _params(**dask):
    params = small_model_params()
    lightgbm = {**params.train.lightgbm, "n_estimators": 40}
    train = params.train.model_copy(update={"backend": "dask", "lightgbm": lightgbm})
    return params.model_copy(update={"train": train, "dask": params.dask.model_copy(update=dask)})


def _fit(cluster, path, params, chunk_rows=400):
    contract = songs_contract()
    settings = (params.segregate.group_by, params.train.val_size, params.seed)
    split = split_partitioned(
        cluster.client,
        str(path),
        contract,
        settings,
        chunk_rows=chunk_rows,
        workers=cluster.workers,
    )
    return train_model_distributed(params, contract, split, cluster)


def _state(pipeline):
    """What the model's bytes are made of, value by value: the booster's text, each
    preprocessing block's pickle, the estimator's other attributes. (The bytes of two fits
    in one process can still differ in which equal strings pickle shares, which follows
    the process's history: the stage's bytes are compared across runs in
    tests/integration/test_dask_train.py.)"""
    import pickle

    canonicalize_for_pickling(pipeline)
    classifier = pipeline.named_steps["classifier"]
    blocks = pipeline.named_steps["preprocessor"].named_transformers_
    return (
        classifier.booster_.model_to_string(),
        {name: pickle.dumps(block) for name, block in blocks.items()},
        {k: pickle.dumps(v) for k, v in vars(classifier).items() if k != "_Booster"},
    )


@pytest.fixture(scope="module")
def split_path(tmp_path_factory):
    return split_file(tmp_path_factory.mktemp("split"), rows=2500, row_group=600)


@pytest.fixture(scope="module")
def fitted(cluster, split_path):
    return _fit(cluster, split_path, _params())


def test_the_twin_gives_the_local_backends_kind_of_model(fitted, split_path):
    contract, params = songs_contract(), _params()
    fit_part, validation_part = fit_and_validation(params, contract, str(split_path))
    inputs, target = list(contract.model_input_columns), contract.target
    local = train_model(
        params,
        contract,
        fit_part[inputs],
        fit_part[target],
        Validation(validation_part[inputs], validation_part[target]),
    )
    ours, theirs = fitted.trained.pipeline, local.pipeline
    assert type(ours) is type(theirs) and [n for n, _ in ours.steps] == [n for n, _ in theirs.steps]
    mine, yours = ours.named_steps["classifier"], theirs.named_steps["classifier"]
    assert type(mine) is type(yours) and set(vars(mine)) == set(vars(yours))
    differing = {k for k, v in mine.get_params().items() if yours.get_params()[k] != v}
    # n_estimators: the rounds it has, not the cap early stopping had.
    assert differing <= {"n_estimators"} and mine.n_estimators == local.rounds
    np.testing.assert_array_equal(mine.classes_, yours.classes_)
    assert mine.classes_.dtype == yours.classes_.dtype and fitted.trained.classes == local.classes
    # The split fits in the sample: its early stopping is the local fit's, round for round.
    assert fitted.rounds_from == "sample" and fitted.trained.rounds == local.rounds
    assert mine.booster_.current_iteration() == local.rounds
    # It predicts raw rows as any model does, and scores like the local one.
    proba = ours.predict_proba(validation_part[inputs])
    np.testing.assert_allclose(proba, fitted.trained.validation_proba, rtol=1e-12)
    pd.testing.assert_series_equal(
        fitted.validation_target, validation_part[target].rename(target), check_dtype=False
    )
    assert abs(fitted.trained.scores["roc_auc"] - local.scores["roc_auc"]) < 0.01
    curves = fitted.trained.curves
    assert [len(values) for values in curves.values()] == [local.rounds, local.rounds]
    # LightGBM's own per-round loss, added up over the workers' validation shares.
    assert curves["validation"][-1] == pytest.approx(fitted.trained.scores["log_loss"], rel=1e-6)
    assert curves["training"][0] > curves["training"][-1]
    assert mine.evals_result_["validation"]["multi_logloss"] == curves["validation"]


def test_on_one_worker_the_twin_fits_the_local_model(split_path):
    """One worker holds every fit row in the local order, so its bins and trees are the local
    fit's: what two workers change is which rows each one bins and sums."""
    contract = songs_contract()
    params = _params(boosting_rounds=12, workers=1)
    lightgbm = {**params.train.lightgbm, "n_estimators": 12, "early_stopping_round": 0}
    local_params = params.model_copy(
        update={"train": params.train.model_copy(update={"backend": "local", "lightgbm": lightgbm})}
    )
    fit_part, validation_part = fit_and_validation(local_params, contract, str(split_path))
    inputs, target = list(contract.model_input_columns), contract.target
    local = train_model(
        local_params,
        contract,
        fit_part[inputs],
        fit_part[target],
        Validation(validation_part[inputs], validation_part[target]),
    )
    with in_process_cluster(1) as client:
        one = _fit(Cluster(client, sorted(client.scheduler_info()["workers"])), split_path, params)

    def structure(pipeline):
        # The trees' shapes and the rows in their leaves; thresholds and leaf values are
        # compared through the predictions (the scaler's means may differ in the last bit).
        text = pipeline.named_steps["classifier"].booster_.model_to_string()
        kept = ("split_feature=", "left_child=", "right_child=", "leaf_count=", "decision_type=")
        return [line for line in text.splitlines() if line.startswith(kept)]

    assert structure(one.trained.pipeline) == structure(local.pipeline)
    np.testing.assert_allclose(
        one.trained.validation_proba, local.validation_proba, rtol=1e-9, atol=1e-12
    )
    assert one.trained.scores == pytest.approx(local.scores, rel=1e-9)


def test_the_same_model_on_every_run_and_chunking(cluster, fitted, split_path):
    again = _fit(cluster, split_path, _params(), chunk_rows=170)
    assert _state(again.trained.pipeline) == _state(fitted.trained.pipeline)
    assert again.trained.scores == fitted.trained.scores
    assert again.trained.curves == fitted.trained.curves


def test_rounds_from_params_and_a_sample_smaller_than_the_split(cluster, split_path):
    found = _fit(cluster, split_path, _params(boosting_rounds=7, sample_rows=300))
    classifier = found.trained.pipeline.named_steps["classifier"]
    assert found.rounds_from == "params" and found.trained.rounds == 7
    assert classifier.booster_.current_iteration() == 7
    assert len(found.trained.curves["validation"]) == 7


def test_a_class_too_rare_for_every_worker_stops_before_fitting(tmp_path):
    path = split_file(tmp_path, rows=1200, row_group=600)
    table = pd.read_parquet(path)
    # Two rows of one class: at most two fit rows, so one of three workers holds none.
    rare = table[table["genre"] == "Emo"].head(2)
    pd.concat([table[table["genre"] != "Emo"], rare], ignore_index=True).to_parquet(path)
    params = _params()
    params = params.model_copy(
        update={
            "segregate": params.segregate.model_copy(update={"group_by": "none"}),
            "dask": params.dask.model_copy(update={"workers": 3}),
        }
    )
    with in_process_cluster(3) as client:
        three = Cluster(client, sorted(client.scheduler_info()["workers"]))
        with pytest.raises(
            DataValidationError,
            match=r"holds \d+ fit rows but no row of class 'Emo': each of the 3",
        ):
            _fit(three, path, params)


def test_the_dask_backend_fits_lightgbm_only():
    params = _params()
    params = params.model_copy(
        update={"train": params.train.model_copy(update={"model": "random_forest"})}
    )
    with pytest.raises(ParamsError, match=r"'train.backend' is 'dask', which fits LightGBM only"):
        check_backend(params)
