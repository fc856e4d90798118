"""modeling.fitting: fits with evaluation sets, clear errors, per-round loss curves."""

import re

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import log_loss
from small_models import (
    COLUMNS,
    PARAMS,
    PENGUINS,
    SONGS,
    TARGET,
    fitted,
    fitted_lightgbm,
    lightgbm_train_params,
    prepared_table,
    small_train_params,
    with_text,
)

from music_genre.core.errors import DataValidationError, ParamsError
from music_genre.data.splits import stratified_split
from music_genre.modeling.build import build_pipeline
from music_genre.modeling.fitting import Validation, boosting_rounds, fit, loss_curves


def test_invalid_estimator_value_is_a_params_error(synthetic_prepared):
    with pytest.raises(ParamsError, match=r"train.random_forest: .*max_features"):
        fitted(synthetic_prepared, max_features="auto")


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
    assert boosting_rounds(pipeline) == classifier.best_iteration_
    accuracy = (pipeline.predict(synthetic_prepared) == synthetic_prepared[TARGET]).mean()
    assert accuracy > 0.6


def test_invalid_lightgbm_value_is_a_params_error(synthetic_prepared):
    with pytest.raises(ParamsError, match=r"train.lightgbm: .*num_leaves"):
        fitted_lightgbm(synthetic_prepared, num_leaves=1)


@pytest.mark.parametrize(
    ("estimator", "arguments", "rounds"),
    [
        ("random_forest", {"n_estimators": 12, "max_depth": 6, "random_state": 0}, 12),
        ("hist_gradient_boosting", {"max_iter": 15, "early_stopping": True}, None),
    ],
)
def test_loss_curves_of_the_other_estimators(synthetic_prepared, estimator, arguments, rounds):
    fit_part, held_out = stratified_split(synthetic_prepared, SONGS, 0.3, 0, what="validation")
    train = PARAMS.train.model_copy(update={"model": estimator, estimator: arguments})
    pipeline = fit(
        build_pipeline(train, PARAMS.tfidf, SONGS),
        fit_part[COLUMNS],
        fit_part[TARGET],
        estimator,
        n_threads=1,
    )
    validation = Validation(held_out[COLUMNS], held_out[TARGET])
    curves = loss_curves(pipeline, fit_part[COLUMNS], fit_part[TARGET], validation)
    assert set(curves) == {"training", "validation"}
    expected = rounds or boosting_rounds(pipeline)
    assert all(len(curve) == expected for curve in curves.values())
    # More trees or rounds fit the training rows better.
    assert curves["training"][-1] < curves["training"][0]
    if estimator == "random_forest":
        # All the trees together: the forest's own probabilities, scored by sklearn.
        proba = pipeline.predict_proba(held_out[COLUMNS])
        expected_loss = log_loss(held_out[TARGET], proba, labels=pipeline.classes_)
        assert curves["validation"][-1] == pytest.approx(expected_loss, rel=1e-9)


def _train(contract, table, model):
    """The training recipe (as the train stage runs it) with a small forest or booster."""
    from music_genre.modeling.recipe import train_model

    train = small_train_params() if model == "random_forest" else lightgbm_train_params()
    params = PARAMS.model_copy(update={"train": train})
    inputs, target = list(contract.model_input_columns), contract.target
    fit_part, held_out = stratified_split(table, contract, 0.3, 0, what="validation")
    validation = Validation(held_out[inputs], held_out[target])
    return train_model(params, contract, fit_part[inputs], fit_part[target], validation)


@pytest.mark.parametrize("model", ["random_forest", "lightgbm"])
def test_empty_text_is_a_data_error_naming_the_feature_and_its_columns(synthetic_prepared, model):
    blank = synthetic_prepared.assign(**{SONGS.text_feature: " "})
    expected = (
        f"column '{SONGS.text_feature}': no words to build the TF-IDF vocabulary from "
        f"(are {' and '.join(SONGS.text_columns)} all empty?)"
    )
    with pytest.raises(DataValidationError, match=rf"^{re.escape(expected)}$"):
        _train(SONGS, blank, model)


def test_one_empty_text_column_is_named_alone():
    contract = with_text(PENGUINS, "notes")
    table = prepared_table(contract, 300).assign(notes="", notes_text="")
    with pytest.raises(
        DataValidationError, match=r"^column 'notes_text': .*\(is notes all empty\?\)$"
    ):
        _train(contract, table, "random_forest")


def test_a_fit_without_validation_watches_nothing(synthetic_prepared):
    """The refit's fit: fixed rounds, no evaluation set, not even the fitted rows."""
    from music_genre.modeling.build import with_rounds

    train = with_rounds(lightgbm_train_params(), 12)
    pipeline = build_pipeline(train, PARAMS.tfidf, SONGS)
    fit(pipeline, synthetic_prepared[COLUMNS], synthetic_prepared[TARGET], "lightgbm", 1)
    classifier = pipeline.named_steps["classifier"]
    assert not classifier.evals_result_
    assert classifier.booster_.num_trees() == 12 * len(SONGS.classes)
