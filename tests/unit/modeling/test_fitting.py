"""modeling.fitting: fits with evaluation sets, clear errors, per-round loss curves."""

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import log_loss
from small_models import COLUMNS, PARAMS, fitted, fitted_lightgbm

from music_genre.core.errors import DataValidationError, ParamsError
from music_genre.data.features import TARGET, TEXT_FEATURE
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
    fit_part, held_out = stratified_split(synthetic_prepared, 0.3, 0, what="validation")
    train = PARAMS.train.model_copy(update={"model": estimator, estimator: arguments})
    pipeline = fit(
        build_pipeline(train, PARAMS.tfidf),
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


def test_empty_text_is_a_data_error_naming_the_column(synthetic_prepared):
    blank = synthetic_prepared.assign(**{TEXT_FEATURE: " "})
    with pytest.raises(DataValidationError, match=f"column '{TEXT_FEATURE}': no words"):
        fitted(blank)
