"""modeling.importances: the model's own importances per input column, or permutation ones."""

import pytest
from small_models import COLUMNS, PARAMS, fitted, fitted_lightgbm

from music_genre.data.features import MODEL_INPUT_COLUMNS, TARGET
from music_genre.modeling.build import build_pipeline
from music_genre.modeling.fitting import fit
from music_genre.modeling.importances import (
    TEXT_IMPORTANCE_NAME,
    feature_importances,
    permutation_importances,
)


def test_feature_importances_sum_to_one_with_the_text_block_summed(synthetic_prepared):
    shares, measure = feature_importances(fitted(synthetic_prepared))
    importances = dict(shares)
    assert measure == "mean decrease in impurity (sums to 1)"
    assert sum(importances.values()) == pytest.approx(1.0)
    assert set(importances) == {*MODEL_INPUT_COLUMNS[:-1], TEXT_IMPORTANCE_NAME}


def test_lightgbm_importances_are_gain_shares_per_input_column(synthetic_prepared):
    shares, measure = feature_importances(fitted_lightgbm(synthetic_prepared))
    assert measure == "share of the splits' total gain (sums to 1)"
    assert sum(value for _, value in shares) == pytest.approx(1.0)
    assert {name for name, _ in shares} == {*MODEL_INPUT_COLUMNS[:-1], TEXT_IMPORTANCE_NAME}


def test_hist_gradient_boosting_has_no_own_importances_but_permutation_ones(synthetic_prepared):
    train = PARAMS.train.model_copy(
        update={"model": "hist_gradient_boosting", "hist_gradient_boosting": {"max_iter": 10}}
    )
    pipeline = fit(
        build_pipeline(train, PARAMS.tfidf),
        synthetic_prepared[COLUMNS],
        synthetic_prepared[TARGET],
        "hist_gradient_boosting",
        n_threads=1,
    )
    assert feature_importances(pipeline) is None
    rows = synthetic_prepared.head(400)
    first = permutation_importances(pipeline, rows[COLUMNS], rows[TARGET], seed=3)
    assert first == permutation_importances(pipeline, rows[COLUMNS], rows[TARGET], seed=3)
    assert {name for name, _ in first} == set(COLUMNS)
    values = [value for _, value in first]
    assert values == sorted(values, reverse=True)
    # Shuffling some column costs accuracy: the model uses its inputs.
    assert values[0] > 0


def test_a_preprocessor_feature_folds_back_to_its_input_column(synthetic_prepared):
    from music_genre.data.features import TEXT_FEATURE
    from music_genre.modeling.importances import input_column

    assert input_column("num__tempo") == ("tempo", None)
    assert input_column("cat__key") == ("key", None)
    assert input_column("text__love") == (TEXT_FEATURE, "love")
    names = fitted(synthetic_prepared).named_steps["preprocessor"].get_feature_names_out()
    columns = {input_column(str(name))[0] for name in names}
    assert columns == set(MODEL_INPUT_COLUMNS)
