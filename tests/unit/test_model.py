from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pytest

from music_genre import model, model_store
from music_genre.errors import ModelIntegrityError, ParamsError
from music_genre.features import MODEL_INPUT_COLUMNS, TARGET
from music_genre.fileio import sha256_file
from music_genre.params import load_params

PARAMS = load_params(Path(__file__).resolve().parents[2] / "params.yaml")
SMALL_FOREST = {"n_estimators": 20, "max_depth": 8, "random_state": 0, "n_jobs": 2}


def small_train_params(**forest):
    return replace(PARAMS.train, model="random_forest", random_forest={**SMALL_FOREST, **forest})


def fitted(frame, **forest):
    pipeline = model.build_pipeline(small_train_params(**forest), PARAMS.tfidf)
    return model.fit(pipeline, frame[list(MODEL_INPUT_COLUMNS)], frame[TARGET], "random_forest")


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
        model.make_estimator(replace(PARAMS.train, model="svm"))


def test_unknown_estimator_argument_is_named():
    with pytest.raises(ParamsError, match=r"'train.random_forest.max_dept' is not a"):
        model.make_estimator(small_train_params(max_dept=3))


def test_invalid_estimator_value_is_a_params_error(synthetic_prepared):
    with pytest.raises(ParamsError, match=r"train.random_forest: .*max_features"):
        fitted(synthetic_prepared, max_features="auto")


def test_feature_importances_sum_to_one_with_the_text_block_summed(synthetic_prepared):
    importances = dict(model.feature_importances(fitted(synthetic_prepared)))
    assert sum(importances.values()) == pytest.approx(1.0)
    assert set(importances) == {*MODEL_INPUT_COLUMNS[:-1], model.TEXT_IMPORTANCE_NAME}


def test_saved_model_bytes_are_reproducible(tmp_path, synthetic_prepared):
    paths = []
    for run in range(2):
        pipeline = fitted(synthetic_prepared)
        pipeline.predict_proba(synthetic_prepared.head(50))  # predicting touches the vectorizer
        model.canonicalize_for_pickling(pipeline)
        path = tmp_path / f"run{run}" / "model.joblib"
        model_store.save_model(pipeline, {"classes": list(pipeline.classes_)}, path)
        paths.append(path)
    assert sha256_file(paths[0]) == sha256_file(paths[1])


def test_load_verifies_the_hash_before_unpickling(tmp_path, synthetic_prepared):
    path = tmp_path / "model.joblib"
    model_store.save_model(fitted(synthetic_prepared), {"note": "test"}, path)
    loaded, card = model_store.load_model(path)
    assert card["model_sha256"] == sha256_file(path) and card["note"] == "test"
    assert list(loaded.classes_) == sorted(synthetic_prepared[TARGET].unique())

    joblib.dump({"swapped": True}, path)
    with pytest.raises(ModelIntegrityError, match=r"does not match .*refusing to unpickle"):
        model_store.load_model(path)


def test_boosted_model_bytes_do_not_depend_on_the_thread_count(tmp_path, synthetic_prepared):
    """n_threads 0 means every core: the model file must not record how many there were."""
    boosting = {"max_iter": 5, "random_state": 0, "early_stopping": False}
    train = replace(PARAMS.train, model="hist_gradient_boosting", hist_gradient_boosting=boosting)
    hashes = []
    for threads in (1, 2):
        pipeline = model.build_pipeline(train, PARAMS.tfidf)
        features = synthetic_prepared[list(MODEL_INPUT_COLUMNS)]
        model.fit(pipeline, features, synthetic_prepared[TARGET], train.model, threads)
        model.canonicalize_for_pickling(pipeline)
        path = tmp_path / f"threads{threads}.joblib"
        joblib.dump(pipeline, path)
        hashes.append(sha256_file(path))
    assert hashes[0] == hashes[1]
