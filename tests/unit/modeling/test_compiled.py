"""The compiled scorer: the booster's probabilities (to 1e-9, in fact to the last bit for
LightGBM) for every layout, batch size and split kind it takes; one log line and the model's own
predictor wherever it cannot run (no compiler, a failing one, an unsupported model)."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import replace
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from music_genre.modeling import compiled, kernel
from music_genre.modeling.compiled import TOLERANCE, CompiledScorer, compile_scorer
from music_genre.modeling.forest import RAW, forest_of
from music_genre.modeling.store import load_model
from music_genre.serving.inputs import RowInputs
from support.data import songs_contract, synthetic_songs

ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold, a float read as a double
EDGES = (np.nan, 0.0, -0.0, ZERO, -ZERO, ZERO / 2, -ZERO / 2, 1e-300, np.inf, -np.inf)


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A cache with the kernel built once for this module."""
    directory = tmp_path_factory.mktemp("scorer_cache")
    kernel.load_kernel(directory)
    return directory


def matrix(rows: int, seed: int, features: int = 12) -> np.ndarray:
    """Dense columns, sparse ones (mostly 0.0) and missing values."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    x[:, features // 2 :] *= rng.random((rows, features - features // 2)) < 0.2
    x[rng.random((rows, features)) < 0.05] = np.nan
    return x


def labels(x: np.ndarray, classes: int) -> np.ndarray:
    score = np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, -1]) * 2 + np.isnan(x[:, 1])
    return np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))


def lightgbm(classes: int = 4, rows: int = 1500, **params) -> lgb.LGBMClassifier:
    x = matrix(rows, seed=1)
    options = {"n_estimators": 25, "num_leaves": 15, "verbose": -1, "n_jobs": 1, **params}
    return lgb.LGBMClassifier(**options).fit(x, labels(x, classes))


def scorer_of(classifier, kernel_dir: Path) -> CompiledScorer:
    scorer = compile_scorer(classifier, cache_dir=kernel_dir)
    assert scorer is not None
    return scorer


def assert_same(got: np.ndarray, expected: np.ndarray, exact: bool = True) -> None:
    assert got.shape == expected.shape
    assert np.all(np.abs(got - expected) <= TOLERANCE)
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    if exact:
        assert np.array_equal(got, expected)


def test_the_songs_model_on_100000_synthetic_rows(small_model, kernel_dir):
    """The pipeline's own preprocessing, then the booster or the scorer: the same
    probabilities, to the last bit, and the same classes (CSR, as the pipeline hands it)."""
    pipeline, _ = load_model(small_model)
    inputs = RowInputs.of(songs_contract())
    table = synthetic_songs(100_000, seed=31).drop(columns=[songs_contract().target])
    features = pipeline[:-1].transform(inputs.prepare(table)[list(pipeline.feature_names_in_)])
    assert sp.issparse(features)
    scorer = scorer_of(pipeline[-1], kernel_dir)
    assert_same(scorer.predict_proba(features), pipeline[-1].predict_proba(features))
    raw = CompiledScorer(replace(scorer.forest, link=RAW), scorer.library)
    sample = features[:5000]
    assert np.array_equal(raw.raw_link(sample), pipeline[-1].predict_proba(sample, raw_score=True))


@pytest.mark.parametrize("rows", [1, 2, 7, 8, 9, 63, 64, 65, 129, 300])
def test_every_layout_and_batch_size(rows, kernel_dir):
    """Blocks of 64 rows, then of 8, then single rows: dense (either order) and CSR."""
    model = lightgbm()
    x = matrix(rows, seed=2)
    expected = model.predict_proba(x)
    scorer = scorer_of(model, kernel_dir)
    assert_same(scorer.predict_proba(x), expected)
    assert_same(scorer.predict_proba(np.asfortranarray(x)), expected)
    dense = np.nan_to_num(x)
    assert_same(scorer.predict_proba(sp.csr_matrix(dense)), model.predict_proba(dense))
    for row in range(min(rows, 5)):
        assert_same(scorer.predict_proba(x[row : row + 1]), expected[row : row + 1])


def test_no_rows(kernel_dir):
    scorer = scorer_of(lightgbm(), kernel_dir)
    assert scorer.predict_proba(np.zeros((0, 12))).shape == (0, 4)
    assert scorer.predict_proba(sp.csr_matrix((0, 12))).shape == (0, 4)


@pytest.mark.parametrize("missing", ["trained with NaN", "no NaN in training"])
def test_missing_values_and_values_next_to_zero(missing, kernel_dir):
    """NaN goes where LightGBM sends it (the split's default side, or read as 0.0 when the
    feature had no missing value); LightGBM reads |x| <= 1e-35 of a dense row as 0.0 but a CSR
    entry as it is, and so does the scorer."""
    x = matrix(2000, seed=3)
    if missing == "no NaN in training":
        x = np.nan_to_num(x)
    x[:200, 6:] = np.where(x[:200, 6:] != 0, ZERO, 0.0)  # splits at the zero boundary
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(x, labels(x, 3))
    probe = matrix(len(EDGES) ** 2, seed=4)
    grid = np.array([(a, b) for a in EDGES for b in EDGES])
    probe[:, [0, 6]] = grid
    probe[:, [1, 7]] = grid[::-1]
    scorer = scorer_of(model, kernel_dir)
    assert_same(scorer.predict_proba(probe), model.predict_proba(probe))
    csr = sp.csr_matrix(np.where(np.isnan(probe), 0.0, probe))
    csr.data[::3] = np.nan  # explicit NaN entries
    assert_same(scorer.predict_proba(csr), model.predict_proba(csr))


def test_large_trees_are_walked_and_one_leaf_trees_kept(kernel_dir):
    x = matrix(3000, seed=5)
    big = lgb.LGBMClassifier(
        n_estimators=8, num_leaves=200, min_child_samples=2, verbose=-1, n_jobs=1
    ).fit(x, labels(x, 3))
    forest = forest_of(big)
    assert forest.walked.any() and not forest.walked.all()
    # No split leaves two children of 500 rows: every tree is a single leaf.
    tiny = lgb.LGBMClassifier(n_estimators=5, min_child_samples=500, verbose=-1, n_jobs=1).fit(
        x[:900], labels(x[:900], 3)
    )
    assert (np.diff(forest_of(tiny).node_start) == 0).any()
    for model in (big, tiny):
        probe = matrix(700, seed=6)
        assert_same(scorer_of(model, kernel_dir).predict_proba(probe), model.predict_proba(probe))


def test_binary_lightgbm_gives_both_columns(kernel_dir):
    model = lightgbm(classes=2)
    probe = matrix(500, seed=7)
    assert_same(scorer_of(model, kernel_dir).predict_proba(probe), model.predict_proba(probe))


@pytest.mark.parametrize("classes", [2, 5])
def test_hist_gradient_boosting(classes, kernel_dir):
    """Raw scores to the last bit (baseline, then every tree in order); probabilities within
    rounding (scikit-learn's softmax and expit are numpy's)."""
    x = matrix(2000, seed=8)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, labels(x, classes))
    probe = matrix(600, seed=9)
    scorer = scorer_of(model, kernel_dir)
    assert_same(scorer.predict_proba(probe), model.predict_proba(probe), exact=False)
    raw = CompiledScorer(replace(scorer.forest, link=RAW, binary=False), scorer.library)
    assert np.array_equal(raw.raw_link(probe), model._raw_predict(probe))


def test_batches_split_between_threads_give_the_same_answer(kernel_dir):
    model = lightgbm()
    probe = matrix(3 * compiled.ROWS_PER_THREAD, seed=10)
    one = scorer_of(model, kernel_dir)
    assert_same(one.with_threads(3).predict_proba(probe), one.predict_proba(probe))
    assert_same(one.with_threads(2).predict_proba(sp.csr_matrix(np.nan_to_num(probe))),
                one.predict_proba(np.nan_to_num(probe)))  # fmt: skip


def test_a_matrix_of_another_width_is_one_line(kernel_dir):
    with pytest.raises(ValueError, match=r"^the model reads 12 features, the matrix has 3$"):
        scorer_of(lightgbm(), kernel_dir).predict_proba(np.zeros((2, 3)))


def warnings_and_infos(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("music_genre.modeling")]


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (RandomForestClassifier(n_estimators=3), "RandomForestClassifier is not a boosted-tree"),
        (lgb.LGBMClassifier(n_estimators=3, verbose=-1), "categorical"),
        (lgb.LGBMClassifier(n_estimators=3, linear_tree=True, verbose=-1), "linear trees"),
    ],
    ids=["random forest", "categorical splits", "linear trees"],
)
def test_a_model_it_cannot_score_exactly_keeps_its_own_predictor(model, reason, caplog, kernel_dir):
    x = np.abs(np.nan_to_num(matrix(400, seed=11))).round(1) * 3
    categorical = {"categorical_feature": [0]} if reason == "categorical" else {}
    model.fit(x, labels(x, 3), **categorical)
    with caplog.at_level(logging.INFO):
        assert compile_scorer(model, cache_dir=kernel_dir) is None
    (message,) = warnings_and_infos(caplog)
    assert reason in message and "own" in message


def test_no_compiler_falls_back_to_the_booster_with_one_log_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(kernel.COMPILER_ENV, str(tmp_path / "no-such-cc"))
    with caplog.at_level(logging.INFO):
        assert compile_scorer(lightgbm(), cache_dir=tmp_path / "empty") is None
    (message,) = warnings_and_infos(caplog)
    assert message.startswith("compiled scorer unavailable (no C compiler: set CC or install gcc")
    assert message.endswith("scoring with LGBMClassifier's own predictor")


def test_a_compiler_that_fails_falls_back_with_one_log_line(tmp_path, monkeypatch, caplog):
    broken = tmp_path / "broken-cc"
    broken.write_text("#!/bin/sh\necho 'cc: internal error' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv(kernel.COMPILER_ENV, str(broken))
    with caplog.at_level(logging.WARNING):
        assert compile_scorer(lightgbm(), cache_dir=tmp_path / "cache") is None
    (message,) = warnings_and_infos(caplog)
    assert f"the C compiler ({broken}) could not build forest_kernel.c" in message


def test_a_cached_kernel_needs_no_compiler(tmp_path, monkeypatch):
    kernel.load_kernel(tmp_path)
    kernel._load_kernel.cache_clear()  # a new process: only the cache on disk
    monkeypatch.setenv(kernel.COMPILER_ENV, str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", "")
    model, probe = lightgbm(), matrix(50, seed=12)
    scorer = compile_scorer(model, cache_dir=tmp_path)
    assert scorer is not None
    assert_same(scorer.predict_proba(probe), model.predict_proba(probe))


def test_the_booster_can_be_chosen(monkeypatch, caplog, kernel_dir):
    monkeypatch.setenv(compiled.SCORER_ENV, "booster")
    with caplog.at_level(logging.INFO):
        assert compile_scorer(lightgbm(), cache_dir=kernel_dir) is None
    (message,) = warnings_and_infos(caplog)
    assert message == "MUSIC_GENRE_SCORER=booster: scoring with LGBMClassifier's own predictor"


def test_the_forest_is_cached_by_the_models_sha256(tmp_path, monkeypatch):
    monkeypatch.setattr(compiled, "FOREST_CACHE_TREES", 0)
    model, probe, sha256 = lightgbm(), matrix(80, seed=13), "ab" * 32
    first = compile_scorer(model, cache_dir=tmp_path, model_sha256=sha256)
    (cached,) = (tmp_path / "scorer").glob(f"forest-{sha256[:32]}-*.npz")

    def unread(classifier):
        raise AssertionError("the model was read again")

    monkeypatch.setattr(compiled, "forest_of", unread)
    again = compile_scorer(model, cache_dir=tmp_path, model_sha256=sha256)
    assert first is not None and again is not None
    assert_same(again.predict_proba(probe), model.predict_proba(probe))
    monkeypatch.setattr(compiled, "forest_of", forest_of)
    # A damaged cache is read from the model again: not an npz, or indices out of bounds.
    wrong = {**first.forest.arrays(), "feature": first.forest.feature + 100}
    for damage in (lambda: cached.write_bytes(b"not an npz"), lambda: np.savez(cached, **wrong)):
        damage()
        repaired = compile_scorer(model, cache_dir=tmp_path, model_sha256=sha256)
        assert repaired is not None
        assert_same(repaired.predict_proba(probe), model.predict_proba(probe))


def test_a_forest_whose_indices_leave_its_arrays_is_refused(kernel_dir):
    scorer = scorer_of(lightgbm(), kernel_dir)
    forest = scorer.forest
    for damaged in (
        replace(forest, feature=forest.feature + forest.n_features),
        replace(forest, left=forest.left + 100),
        replace(forest, leaf_start=forest.leaf_start * 0),
        replace(forest, threshold=forest.threshold.astype(np.float32)),
    ):
        with pytest.raises(ValueError, match=r"^forest"):
            CompiledScorer(damaged, scorer.library)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_cache_others_may_write_to_is_not_used(tmp_path):
    shared = tmp_path / "shared"
    (shared / "scorer").mkdir(parents=True)
    (shared / "scorer").chmod(0o777)
    model, probe = lightgbm(), matrix(40, seed=14)
    scorer = compile_scorer(model, cache_dir=shared)
    assert scorer is not None
    assert_same(scorer.predict_proba(probe), model.predict_proba(probe))
    assert not list((shared / "scorer").iterdir())  # built in a private folder instead
    assert stat.S_IMODE((shared / "scorer").stat().st_mode) == 0o777
