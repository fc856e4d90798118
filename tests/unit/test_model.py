from pathlib import Path

import joblib
import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import log_loss

from music_genre.core.errors import ModelIntegrityError, ParamsError
from music_genre.core.fileio import sha256_file
from music_genre.core.params import load_params
from music_genre.data.features import MODEL_INPUT_COLUMNS, TARGET
from music_genre.data.splits import stratified_split
from music_genre.modeling import build as model
from music_genre.modeling import store as model_store

PARAMS = load_params(Path(__file__).resolve().parents[2] / "params.yaml")
SMALL_FOREST = {"n_estimators": 20, "max_depth": 8, "random_state": 0, "n_jobs": 2}


def small_train_params(**forest):
    return PARAMS.train.model_copy(
        update={"model": "random_forest", "random_forest": {**SMALL_FOREST, **forest}}
    )


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
        model.make_estimator(PARAMS.train.model_copy(update={"model": "svm"}))


def test_unknown_estimator_argument_is_named():
    with pytest.raises(ParamsError, match=r"'train.random_forest.max_dept' is not a"):
        model.make_estimator(small_train_params(max_dept=3))


def test_invalid_estimator_value_is_a_params_error(synthetic_prepared):
    with pytest.raises(ParamsError, match=r"train.random_forest: .*max_features"):
        fitted(synthetic_prepared, max_features="auto")


def test_feature_importances_sum_to_one_with_the_text_block_summed(synthetic_prepared):
    shares, measure = model.feature_importances(fitted(synthetic_prepared))
    importances = dict(shares)
    assert measure == "mean decrease in impurity (sums to 1)"
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
    train = PARAMS.train.model_copy(
        update={"model": "hist_gradient_boosting", "hist_gradient_boosting": boosting}
    )
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


# LightGBM, the default: fed the sparse TF-IDF block, early stopping on the validation part.
COLUMNS = list(MODEL_INPUT_COLUMNS)


def lightgbm_train_params(**arguments):
    small = {**PARAMS.train.lightgbm, "n_estimators": 40, **arguments}
    return PARAMS.train.model_copy(update={"model": "lightgbm", "lightgbm": small})


def fitted_lightgbm(frame, threads=1, callbacks=(), **arguments):
    fit_part, held_out = stratified_split(frame, 0.3, 0, what="validation")
    pipeline = model.build_pipeline(lightgbm_train_params(**arguments), PARAMS.tfidf)
    validation = model.Validation(held_out[COLUMNS], held_out[TARGET])
    return model.fit(
        pipeline,
        fit_part[COLUMNS],
        fit_part[TARGET],
        "lightgbm",
        threads,
        validation=validation,
        callbacks=callbacks,
    )


def test_lightgbm_gets_the_sparse_text_block_and_stops_early(synthetic_prepared):
    pipeline = fitted_lightgbm(synthetic_prepared, n_estimators=400, early_stopping_round=5)
    matrix = pipeline.named_steps["preprocessor"].transform(synthetic_prepared[COLUMNS])
    assert sparse.issparse(matrix)
    classifier = pipeline.named_steps["classifier"]
    # Early stopping watched the validation part, and stopped well before the cap.
    assert set(classifier.evals_result_) == {"training", "validation"}
    validation_loss = classifier.evals_result_["validation"]["multi_logloss"]
    assert classifier.best_iteration_ == int(np.argmin(validation_loss)) + 1
    assert 0 < classifier.best_iteration_ < len(validation_loss) < 400
    # The saved booster keeps the chosen rounds only.
    assert classifier.n_iter_ == classifier.best_iteration_
    assert model.boosting_rounds(pipeline) == classifier.best_iteration_
    accuracy = (pipeline.predict(synthetic_prepared) == synthetic_prepared[TARGET]).mean()
    assert accuracy > 0.6


def test_lightgbm_model_bytes_do_not_depend_on_the_thread_count(tmp_path, synthetic_prepared):
    """The booster's text records num_threads; its evaluation scores vary in the last digits."""
    hashes, probabilities = [], []
    for threads in (1, 2):
        pipeline = fitted_lightgbm(synthetic_prepared, threads)
        probabilities.append(pipeline.predict_proba(synthetic_prepared[COLUMNS]))
        model.canonicalize_for_pickling(pipeline)
        path = tmp_path / f"threads{threads}.joblib"
        joblib.dump(pipeline, path)
        hashes.append(sha256_file(path))
        reloaded = joblib.load(path)
        assert np.array_equal(
            reloaded.predict_proba(synthetic_prepared[COLUMNS]), probabilities[-1]
        )
    assert hashes[0] == hashes[1]
    assert np.array_equal(probabilities[0], probabilities[1])


def test_lightgbm_arguments_are_checked_and_aliases_accepted():
    with pytest.raises(ParamsError, match=r"'train.lightgbm.num_leavs' is not a LGBMClassifier"):
        model.make_estimator(lightgbm_train_params(num_leavs=7))
    estimator, _ = model.make_estimator(lightgbm_train_params(min_data_in_leaf=10))
    assert estimator.get_params()["min_data_in_leaf"] == 10


def test_invalid_lightgbm_value_is_a_params_error(synthetic_prepared):
    with pytest.raises(ParamsError, match=r"train.lightgbm: .*num_leaves"):
        fitted_lightgbm(synthetic_prepared, num_leaves=1)


def test_lightgbm_importances_are_gain_shares_per_input_column(synthetic_prepared):
    shares, measure = model.feature_importances(fitted_lightgbm(synthetic_prepared))
    assert measure == "share of the splits' total gain (sums to 1)"
    assert sum(value for _, value in shares) == pytest.approx(1.0)
    assert {name for name, _ in shares} == {*MODEL_INPUT_COLUMNS[:-1], model.TEXT_IMPORTANCE_NAME}


@pytest.mark.parametrize(
    ("estimator", "arguments", "rounds"),
    [
        ("random_forest", {"n_estimators": 12, "max_depth": 6, "random_state": 0}, 12),
        ("hist_gradient_boosting", {"max_iter": 15, "early_stopping": True}, None),
    ],
)
def test_loss_curves_of_the_other_estimators(synthetic_prepared, estimator, arguments, rounds):
    fit_part, held_out = stratified_split(synthetic_prepared, 0.3, 0, what="validation")
    train = PARAMS.train.model_copy(update={"model": estimator, estimator: arguments})
    pipeline = model.fit(
        model.build_pipeline(train, PARAMS.tfidf),
        fit_part[COLUMNS],
        fit_part[TARGET],
        estimator,
        n_threads=1,
    )
    validation = model.Validation(held_out[COLUMNS], held_out[TARGET])
    curves = model.loss_curves(pipeline, fit_part[COLUMNS], fit_part[TARGET], validation)
    assert set(curves) == {"training", "validation"}
    expected = rounds or model.boosting_rounds(pipeline)
    assert all(len(curve) == expected for curve in curves.values())
    # More trees or rounds fit the training rows better.
    assert curves["training"][-1] < curves["training"][0]
    if estimator == "random_forest":
        # All the trees together: the forest's own probabilities, scored by sklearn.
        proba = pipeline.predict_proba(held_out[COLUMNS])
        expected_loss = log_loss(held_out[TARGET], proba, labels=pipeline.classes_)
        assert curves["validation"][-1] == pytest.approx(expected_loss, rel=1e-9)
