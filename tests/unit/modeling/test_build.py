"""modeling.build: the pipeline's shape and the estimator's arguments, checked."""

import numpy as np
import pytest
from scipy import sparse
from small_models import (
    COLUMNS,
    PARAMS,
    fitted,
    lightgbm_train_params,
    small_train_params,
)

from music_genre.core.errors import ParamsError
from music_genre.data.features import MODEL_INPUT_COLUMNS, TARGET
from music_genre.modeling.build import make_estimator


def test_pipeline_learns_the_synthetic_genres(synthetic_prepared):
    pipeline = fitted(synthetic_prepared)
    proba = pipeline.predict_proba(synthetic_prepared[list(MODEL_INPUT_COLUMNS)])
    assert proba.shape == (len(synthetic_prepared), 15)
    assert np.allclose(proba.sum(axis=1), 1)
    accuracy = (pipeline.predict(synthetic_prepared) == synthetic_prepared[TARGET]).mean()
    assert accuracy > 0.6
    # Predictions run single-threaded so probabilities are summed in a fixed order.
    assert pipeline.named_steps["classifier"].n_jobs == 1


def test_unknown_estimator_is_named():
    with pytest.raises(ParamsError, match=r"'train.model' is 'svm', expected one of"):
        make_estimator(PARAMS.train.model_copy(update={"model": "svm"}))


def test_unknown_estimator_argument_is_named():
    with pytest.raises(ParamsError, match=r"'train.random_forest.max_dept' is not a"):
        make_estimator(small_train_params(max_dept=3))


def test_lightgbm_arguments_are_checked_and_aliases_accepted():
    with pytest.raises(ParamsError, match=r"'train.lightgbm.num_leavs' is not a LGBMClassifier"):
        make_estimator(lightgbm_train_params(num_leavs=7))
    estimator, _ = make_estimator(lightgbm_train_params(min_data_in_leaf=10))
    assert estimator.get_params()["min_data_in_leaf"] == 10


def test_the_text_block_stays_sparse_for_lightgbm_and_dense_for_hist_gradient_boosting(
    synthetic_prepared,
):
    from music_genre.modeling.build import build_pipeline

    rows = synthetic_prepared[COLUMNS].head(200)
    for name, is_sparse in (("lightgbm", True), ("hist_gradient_boosting", False)):
        train = PARAMS.train.model_copy(update={"model": name})
        preprocessor = build_pipeline(train, PARAMS.tfidf).named_steps["preprocessor"]
        matrix = preprocessor.fit_transform(rows, synthetic_prepared[TARGET].head(200))
        assert sparse.issparse(matrix) is is_sparse, name
        assert np.isfinite(matrix.toarray() if is_sparse else matrix).all()


def test_the_forest_gets_the_thread_count_from_params():
    estimator, spec = make_estimator(small_train_params())
    assert spec.class_name == "RandomForestClassifier"
    assert estimator.n_jobs == 2  # given in train.random_forest, not overridden
    unset = PARAMS.train.model_copy(
        update={"model": "random_forest", "random_forest": {"n_estimators": 5}, "n_threads": 3}
    )
    assert make_estimator(unset)[0].n_jobs == 3
