"""modeling.canonical: the same trees pickle to the same bytes, whatever the thread count."""

import joblib
import numpy as np
from small_models import (
    COLUMNS,
    PARAMS,
    PENGUINS,
    SONGS,
    TARGET,
    fitted,
    fitted_lightgbm,
    prepared_table,
)

from music_genre.core.fileio import sha256_file
from music_genre.modeling.build import build_pipeline
from music_genre.modeling.canonical import canonicalize_for_pickling, round_significant
from music_genre.modeling.fitting import fit
from music_genre.modeling.store import save_model


def test_saved_model_bytes_are_reproducible(tmp_path, synthetic_prepared):
    paths = []
    for run in range(2):
        pipeline = fitted(synthetic_prepared)
        pipeline.predict_proba(synthetic_prepared.head(50))  # predicting touches the vectorizer
        canonicalize_for_pickling(pipeline)
        path = tmp_path / f"run{run}" / "model.joblib"
        save_model(pipeline, {"classes": list(pipeline.classes_)}, path)
        paths.append(path)
    assert sha256_file(paths[0]) == sha256_file(paths[1])


def test_boosted_model_bytes_do_not_depend_on_the_thread_count(tmp_path, synthetic_prepared):
    """n_threads 0 means every core: the model file must not record how many there were."""
    boosting = {"max_iter": 5, "random_state": 0, "early_stopping": False}
    train = PARAMS.train.model_copy(
        update={"model": "hist_gradient_boosting", "hist_gradient_boosting": boosting}
    )
    hashes = []
    for threads in (1, 2):
        pipeline = build_pipeline(train, PARAMS.tfidf, SONGS)
        features = synthetic_prepared[COLUMNS]
        fit(pipeline, features, synthetic_prepared[TARGET], train.model, threads)
        canonicalize_for_pickling(pipeline)
        path = tmp_path / f"threads{threads}.joblib"
        joblib.dump(pipeline, path)
        hashes.append(sha256_file(path))
    assert hashes[0] == hashes[1]


def test_lightgbm_model_bytes_do_not_depend_on_the_thread_count(tmp_path, synthetic_prepared):
    """The booster's text records num_threads; its evaluation scores vary in the last digits."""
    hashes, probabilities = [], []
    for threads in (1, 2):
        pipeline = fitted_lightgbm(synthetic_prepared, threads)
        probabilities.append(pipeline.predict_proba(synthetic_prepared[COLUMNS]))
        canonicalize_for_pickling(pipeline)
        path = tmp_path / f"threads{threads}.joblib"
        joblib.dump(pipeline, path)
        hashes.append(sha256_file(path))
        reloaded = joblib.load(path)
        assert np.array_equal(
            reloaded.predict_proba(synthetic_prepared[COLUMNS]), probabilities[-1]
        )
    assert hashes[0] == hashes[1]
    assert np.array_equal(probabilities[0], probabilities[1])


def test_a_model_without_a_text_block_is_canonicalized_too(tmp_path):
    table = prepared_table(PENGUINS, 400)
    paths = []
    for run in range(2):
        pipeline = fitted(table, PENGUINS)
        assert "text" not in pipeline.named_steps["preprocessor"].named_transformers_
        canonicalize_for_pickling(pipeline)
        paths.append(tmp_path / f"run{run}.joblib")
        joblib.dump(pipeline, paths[-1])
    assert sha256_file(paths[0]) == sha256_file(paths[1])


def test_round_significant_keeps_six_significant_digits():
    assert round_significant(0.123456789) == 0.123457
    assert round_significant(1234567.0) == 1234570.0
    assert round_significant(2.0) == 2.0
