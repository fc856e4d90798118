"""modeling.importances: the model's own importances per input column, or permutation ones."""

import pytest
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
)

from music_genre.modeling.build import build_pipeline
from music_genre.modeling.fitting import fit
from music_genre.modeling.importances import (
    feature_importances,
    input_column,
    permutation_importances,
    read_columns,
    text_column,
    text_importance_name,
)
from support.models import explained_columns

# Every input column once, the TF-IDF block's terms summed into one entry.
SONGS_ENTRIES = {
    *SONGS.numeric_features,
    *SONGS.categorical_features,
    text_importance_name(SONGS.text_feature),
}


def test_feature_importances_sum_to_one_with_the_text_block_summed(synthetic_prepared):
    shares, measure = feature_importances(fitted(synthetic_prepared))
    importances = dict(shares)
    assert measure == "mean decrease in impurity (sums to 1)"
    assert sum(importances.values()) == pytest.approx(1.0)
    assert set(importances) == SONGS_ENTRIES


def test_lightgbm_importances_are_gain_shares_per_input_column(synthetic_prepared):
    shares, measure = feature_importances(fitted_lightgbm(synthetic_prepared))
    assert measure == "share of the splits' total gain (sums to 1)"
    assert sum(value for _, value in shares) == pytest.approx(1.0)
    assert {name for name, _ in shares} == SONGS_ENTRIES


def test_hist_gradient_boosting_has_no_own_importances_but_permutation_ones(synthetic_prepared):
    train = PARAMS.train.model_copy(
        update={"model": "hist_gradient_boosting", "hist_gradient_boosting": {"max_iter": 10}}
    )
    pipeline = fit(
        build_pipeline(train, PARAMS.tfidf, SONGS),
        synthetic_prepared[COLUMNS],
        synthetic_prepared[TARGET],
        "hist_gradient_boosting",
        n_threads=1,
    )
    assert feature_importances(pipeline) is None
    rows = synthetic_prepared.head(400)
    first = permutation_importances(pipeline, rows[COLUMNS], rows[TARGET], seed=3)
    assert first == permutation_importances(pipeline, rows[COLUMNS], rows[TARGET], seed=3)
    # The columns the model reads: the text columns only as the text feature.
    assert {name for name, _ in first} == set(explained_columns(SONGS, pipeline))
    assert read_columns(pipeline, SONGS.model_input_columns) == explained_columns(SONGS, pipeline)
    values = [value for _, value in first]
    assert values == sorted(values, reverse=True)
    # Shuffling some column costs accuracy: the model uses its inputs.
    assert values[0] > 0


def test_a_preprocessor_feature_folds_back_to_its_input_column(synthetic_prepared):
    assert input_column("num__tempo", "text_feature") == ("tempo", None)
    assert input_column("cat__key", "text_feature") == ("key", None)
    assert input_column("text__love", "text_feature") == ("text_feature", "love")
    assert input_column("text__love", "notes") == ("notes", "love")
    # A text statistic belongs to its text column; a column name may hold "__" itself.
    assert input_column("stat__song_name__chars", "text_feature") == ("song_name", None)
    assert input_column("stat__a__b__words", "text_feature") == ("a__b", None)
    pipeline = fitted(synthetic_prepared)
    assert text_column(pipeline) == SONGS.text_feature
    names = pipeline.named_steps["preprocessor"].get_feature_names_out()
    columns = {input_column(str(name), SONGS.text_feature)[0] for name in names}
    assert columns == set(explained_columns(SONGS, pipeline))


def test_a_model_without_text_has_one_importance_per_input_column():
    pipeline = fitted(prepared_table(PENGUINS, 500), PENGUINS)
    assert text_column(pipeline) is None
    shares, _ = feature_importances(pipeline)
    assert {name for name, _ in shares} == set(PENGUINS.model_input_columns)
    assert sum(value for _, value in shares) == pytest.approx(1.0)


def test_the_text_statistics_are_their_columns_importances(synthetic_prepared):
    """With tfidf.statistics each text column gets its own entry beside the summed TF-IDF."""
    tfidf = PARAMS.tfidf.model_copy(update={"statistics": True})
    pipeline = build_pipeline(lightgbm_train_params(n_estimators=20), tfidf, SONGS)
    inputs = list(SONGS.model_input_columns)
    frame = synthetic_prepared
    fit(pipeline, frame[inputs], frame[TARGET], "lightgbm")
    shares, _ = feature_importances(pipeline)
    assert {name for name, _ in shares} == SONGS_ENTRIES | set(SONGS.text_columns)
    assert sum(share for _, share in shares) == pytest.approx(1.0)
    assert explained_columns(SONGS, pipeline) == list(SONGS.model_input_columns)
