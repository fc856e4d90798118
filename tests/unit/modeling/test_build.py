"""modeling.build: the pipeline's shape and the estimator's arguments, checked."""

import numpy as np
import pytest
from scipy import sparse
from small_models import (
    COLUMNS,
    PARAMS,
    PENGUINS,
    SONGS,
    TARGET,
    fitted,
    lightgbm_train_params,
    prepared_table,
    small_train_params,
    with_text,
)

from music_genre.core.errors import ParamsError
from music_genre.modeling.build import build_pipeline, make_estimator


def test_pipeline_learns_the_synthetic_classes(synthetic_prepared):
    pipeline = fitted(synthetic_prepared)
    proba = pipeline.predict_proba(synthetic_prepared[COLUMNS])
    assert proba.shape == (len(synthetic_prepared), len(SONGS.classes))
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
    rows = synthetic_prepared[COLUMNS].head(200)
    for name, is_sparse in (("lightgbm", True), ("hist_gradient_boosting", False)):
        train = PARAMS.train.model_copy(update={"model": name})
        preprocessor = build_pipeline(train, PARAMS.tfidf, SONGS).named_steps["preprocessor"]
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


def test_the_blocks_follow_the_contract_and_an_empty_kind_has_none():
    def blocks(contract):
        preprocessor = build_pipeline(small_train_params(), PARAMS.tfidf, contract)[0]
        return [(name, columns) for name, _, columns in preprocessor.transformers]

    assert blocks(SONGS) == [
        ("num", list(SONGS.numeric_features)),
        ("cat", list(SONGS.categorical_features)),
        ("text", SONGS.text_feature),
    ]
    assert blocks(PENGUINS) == [
        ("num", list(PENGUINS.numeric_features)),
        ("cat", list(PENGUINS.categorical_features)),
    ]
    only_text = with_text(PENGUINS, "notes")
    card = only_text.card()
    card["columns"] = [
        {**column, "role": "carried"} if column["role"] in ("numeric", "categorical") else column
        for column in card["columns"]
    ]
    assert blocks(type(only_text).model_validate(card)) == [("text", "notes_text")]


@pytest.mark.parametrize("statistics", [False, True])
def test_the_statistics_block_reads_every_text_column_and_only_when_asked(statistics):
    tfidf = PARAMS.tfidf.model_copy(update={"statistics": statistics})
    for contract in (SONGS, PENGUINS, with_text(PENGUINS, "notes")):
        preprocessor = build_pipeline(small_train_params(), tfidf, contract)[0]
        found = {name: columns for name, _, columns in preprocessor.transformers}
        expected = statistics and bool(contract.text_columns)
        assert ("stat" in found) == expected
        if expected:
            assert found["stat"] == list(contract.text_columns)


def test_string_categoricals_with_missing_values_and_no_text_are_learned():
    table = prepared_table(PENGUINS, 900, seed=4)
    assert table["island"].dtype == "str" and table["sex"].isna().any()
    assert table["bill_length_mm"].isna().any()
    pipeline = fitted(table, PENGUINS)
    inputs = list(PENGUINS.model_input_columns)
    assert list(pipeline.classes_) == sorted(PENGUINS.classes)
    # An island the model never saw is encoded as unknown, not an error.
    unseen = table[inputs].head(5).assign(island="Atlantis")
    assert pipeline.predict_proba(unseen).shape == (5, 3)
    accuracy = (pipeline.predict(table[inputs]) == table[PENGUINS.target]).mean()
    assert accuracy > 0.6


def test_a_text_feature_composed_of_two_columns_reaches_the_vectorizer():
    contract = with_text(PENGUINS, "notes", "remarks")
    table = prepared_table(contract, 600, seed=5)
    expected = table["notes"] + " " + table["remarks"]
    assert table["notes_text"].tolist() == expected.tolist()
    pipeline = fitted(table, contract)
    names = pipeline[0].get_feature_names_out()
    assert any(name.startswith("text__") for name in names)
    assert pipeline.predict_proba(table[list(contract.model_input_columns)]).shape[1] == 3


def test_with_rounds_replaces_every_alias_of_the_rounds_and_of_early_stopping():
    from music_genre.modeling.build import with_rounds

    train = lightgbm_train_params(
        num_boost_round=500, n_iter=300, early_stopping_rounds=7, n_iter_no_change=9
    )
    train.lightgbm.pop("n_estimators")
    refit = with_rounds(train, 123)
    arguments = refit.lightgbm
    assert arguments["n_estimators"] == 123 and arguments["early_stopping_round"] == 0
    for alias in ("num_boost_round", "n_iter", "early_stopping_rounds", "n_iter_no_change"):
        assert alias not in arguments, alias
    # Everything else is kept, and the params it came from are not changed.
    kept = {k: v for k, v in arguments.items() if k not in ("n_estimators", "early_stopping_round")}
    assert kept == {k: v for k, v in train.lightgbm.items() if k in kept}
    assert set(kept) == set(train.lightgbm) - {
        "num_boost_round", "n_iter", "early_stopping_rounds", "n_iter_no_change",
        "early_stopping_round",
    }  # fmt: skip
    assert train.lightgbm["num_boost_round"] == 500
    estimator, _ = make_estimator(refit)
    assert estimator.get_params()["n_estimators"] == 123


def test_with_rounds_leaves_an_estimator_without_rounds_alone():
    from music_genre.modeling.build import with_rounds

    train = small_train_params(n_estimators=12)
    assert with_rounds(train, 99) is train


@pytest.mark.parametrize("statistics", [False, True])
def test_read_inputs_names_what_the_fitted_blocks_read(synthetic_prepared, statistics):
    """The columns a reader of the split must read (the Dask backend's chunk readers), known
    before the fit, are exactly those the fitted preprocessor's blocks read."""
    from music_genre.modeling.build import block_columns, read_inputs

    tfidf = PARAMS.tfidf.model_copy(update={"statistics": statistics})
    rows = synthetic_prepared.head(300)
    preprocessor = build_pipeline(PARAMS.train, tfidf, SONGS).named_steps["preprocessor"]
    preprocessor.fit(rows[list(SONGS.model_input_columns)], rows[TARGET])
    inputs = read_inputs(PARAMS.train, tfidf, SONGS)
    assert inputs == block_columns(preprocessor, SONGS.model_input_columns)
    assert (set(SONGS.text_columns) <= set(inputs)) is statistics
    assert SONGS.text_feature in inputs
    # Fitted on those columns alone, the blocks come out the same.
    alone = build_pipeline(PARAMS.train, tfidf, SONGS).named_steps["preprocessor"]
    alone.fit(rows[inputs], rows[TARGET])
    np.testing.assert_array_equal(
        sparse.csr_matrix(alone.transform(rows[inputs])).toarray(),
        sparse.csr_matrix(preprocessor.transform(rows)).toarray(),
    )
