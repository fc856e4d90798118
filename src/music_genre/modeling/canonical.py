"""Canonical model bytes: the same trees pickle to the same bytes, whatever the machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from music_genre.modeling.build import TEXT_BLOCK

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Curves are rounded to this many significant digits: LightGBM sums a metric over rows with
# every thread, so its last digits (not the trees) depend on the thread count.
CURVE_DIGITS = 6


def round_significant(value: float, digits: int = CURVE_DIGITS) -> float:
    return float(f"{value:.{digits}g}")


def canonicalize_for_pickling(pipeline: Pipeline) -> None:
    """Clear state that would make identical models pickle to different bytes.

    Call it right before saving: predicting sets the vectorizer's _stop_words_id again.
    """
    # The vectorizer's stop_words_ is a set: its pickled order follows Python's per-process
    # string hashing, which would make model.joblib differ byte-wise between identical runs.
    # sklearn documents it as introspection-only and safe to drop.
    # _stop_words_id caches id(stop_words), a memory address that differs in every process;
    # without it sklearn simply re-checks the stop words once.
    # A contract without text has no vectorizer.
    vectorizer = pipeline.named_steps["preprocessor"].named_transformers_.get(TEXT_BLOCK)
    for attribute in ("stop_words_", "_stop_words_id"):
        if hasattr(vectorizer, attribute):
            delattr(vectorizer, attribute)
    classifier = pipeline.named_steps["classifier"]
    # HistGradientBoosting's bin mapper keeps the thread count it was fitted with, so with
    # n_threads 0 the bytes would follow the machine's cores. None (its default) means "all
    # cores" when it bins again, which predict never does.
    bin_mapper = getattr(classifier, "_bin_mapper", None)
    if bin_mapper is not None:
        bin_mapper.n_threads = None
    if hasattr(classifier, "booster_"):
        _canonicalize_lightgbm(classifier)


def _canonicalize_lightgbm(classifier: Any) -> None:
    """LightGBM: the same trees give the same bytes whatever the fitting thread count.

    The booster's saved text and its params record num_threads, and the recorded evaluation
    results (summed over rows by every thread) differ in their last digits. The thread count
    becomes the one predict uses (n_jobs, set to 1 by fit) and the scores are rounded as the
    logged curves are. The booster is rebuilt through its own pickling protocol.
    """
    import re

    booster = classifier.booster_
    threads = classifier.get_params()["n_jobs"]
    state = booster.__getstate__()
    state["_handle"] = re.sub(
        r"^\[num_threads: -?\d+\]$", f"[num_threads: {threads}]", state["_handle"], flags=re.M
    )
    state["params"] = {**state["params"], "num_threads": threads}
    state["best_score"] = _rounded_scores(state["best_score"])
    booster.__setstate__(state)
    classifier._best_score = _rounded_scores(classifier._best_score)
    classifier._evals_result = {
        data: {metric: [round_significant(v) for v in values] for metric, values in scores.items()}
        for data, scores in classifier._evals_result.items()
    }


def _rounded_scores(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        data: {metric: round_significant(value) for metric, value in results.items()}
        for data, results in scores.items()
    }
