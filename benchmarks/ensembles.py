"""Estimators and ensembles beside the committed model: what each gives on validation, per cost.

    python benchmarks/ensembles.py [--split data/split] [--only NAME ...]
        [--output benchmarks/results/ensembles.json]

With --only, the other candidates keep their results from the output file (`committed` is
always fitted: the others are compared with it).

Every candidate is fitted on the fit rows of the train split and early-stopped on its grouped
validation part, exactly as the train stage splits them (params.yaml, contract.yaml; one thread),
and every number is the validation part's (the test split is not read):

- `committed`: LightGBM with params.yaml's arguments on the pipeline's blocks (numeric,
  categorical, TF-IDF of the composed text);
- `lightgbm_seed_bag_3`: three such fits whose random_state differs (42, 43, 44: other row and
  column samples), their raw scores averaged before the softmax. That is one forest whose leaf
  values are divided by three, so the compiled scorer could run it as it is (three times the
  trees); `probability_average` beside it is the same three models' probabilities averaged;
- `catboost_tfidf`: CatBoost (MultiClass, balanced class weights, depth 6) on the same matrix;
- `catboost_native_text`: CatBoost on the raw columns: the numeric ones, the categorical ones
  as its categorical features, the song name and the playlist title as its text features (its
  own tokenizer, a word dictionary of the TF-IDF block's size, bag-of-words and naive-Bayes
  estimates: NATIVE_TEXT);
- `stacked_text_model`: stacking. A linear model of the composed text alone (multinomial
  logistic regression on word 1-2-grams and character 2-5-grams, STACK_TEXT) gives 15 class
  probabilities per song; they join the LightGBM matrix as 15 more columns. On the fit rows
  they are out-of-fold (STACK_FOLDS folds grouped by track, so no song sees a model that read
  its own title); on the validation part they come from the linear model fitted on all fit
  rows. The compiled scorer could run it: the forest reads the preprocessor's matrix, which
  would gain one block;
- `blend_committed_catboost`: the committed model's and the better CatBoost's probabilities
  averaged, of the CatBoost candidates fitted in the same run (`members` names it).

Beside each score: fit seconds, scoring seconds per 10,000 validation songs on one thread (the
estimator's own predictor on the matrix it reads), decision nodes where they are counted
(LightGBM: experiments.costs; CatBoost's oblivious trees: the depth of each tree, what a row
walks), and `instrumental_rap`, tests/model/test_behaviour.py's directional expectation on the
validation part (the share of rap songs that look more electronic with the electronic genres'
instrumentalness; the test wants at least 0.7).

CatBoost is not a project dependency: `pip install catboost` where this runs; without it the
CatBoost candidates are left out and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import committed_train_parts, write_results

ROOT = Path(__file__).resolve().parents[1]
RAP_GENRES = ("Rap", "Hiphop", "Underground Rap")
ELECTRONIC_GENRES = ("techno", "psytrance", "techhouse", "trance", "dnb")
BAG_SEEDS = (42, 43, 44)
CATBOOST = {
    "loss_function": "MultiClass",
    "iterations": 3000,
    "learning_rate": 0.08,
    "depth": 6,
    "l2_leaf_reg": 3.0,
    "auto_class_weights": "Balanced",
    "early_stopping_rounds": 50,
    "random_seed": 42,
    "thread_count": 1,
    "verbose": 0,
    "allow_writing_files": False,
}
# CatBoost's text processing for the native candidate: its default has word and bigram
# dictionaries of up to 50,000 tokens each, which ran for over 45 minutes here without
# finishing; this keeps one word dictionary of the TF-IDF block's size (tfidf.max_features).
NATIVE_TEXT = {
    "tokenizers": [
        {"tokenizer_id": "Space", "separator_type": "ByDelimiter", "delimiter": " ",
         "lowercasing": "true"},
    ],
    "dictionaries": [
        {"dictionary_id": "Word", "max_dictionary_size": "400", "occurrence_lower_bound": "3",
         "gram_order": "1"},
    ],
    "feature_calcers": ["BoW", "NaiveBayes"],
}  # fmt: skip
PER_SONGS = 10_000
STACK_FOLDS = 5
STACK_TEXT = {"word": (1, 2), "char_wb": (2, 5), "max_features": 20_000, "C": 2.0}

Predict = Callable[[Any], Any]


def _scores(truth: Any, proba: Any, classes: list[str]) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from music_genre.modeling.metrics import classification_metrics

    scores = classification_metrics(truth, proba, classes)
    scores["roc_auc_ovr"] = float(roc_auc_score(truth, proba, multi_class="ovr", average="macro"))
    return scores


def _scoring_s_per_10k(predict: Predict, rows: Any, n: int) -> float:
    started = time.perf_counter()
    predict(rows)
    return round((time.perf_counter() - started) * PER_SONGS / n, 3)


def _instrumental_rap(predict: Predict, classes: list[str], fit: Any, validation: Any,
                      target: str) -> dict:  # fmt: skip
    level = fit[fit[target].isin(ELECTRONIC_GENRES)]["instrumentalness"].median()
    songs = validation[validation[target].isin(RAP_GENRES)]
    columns = [classes.index(genre) for genre in ELECTRONIC_GENRES]
    before = predict(songs)[:, columns].sum(axis=1)
    after = predict(songs.assign(instrumentalness=level))[:, columns].sum(axis=1)
    return {
        "songs": len(songs),
        "share_more_electronic": float((after > before).mean()),
        "mean_before": float(before.mean()),
        "mean_after": float(after.mean()),
    }


class Bench:
    """The parts every candidate reads, and the results so far."""

    def __init__(self, split: Path) -> None:
        import scipy.sparse as sp

        from music_genre.modeling.fitting import Validation
        from music_genre.modeling.recipe import prepare

        self.params, self.contract, self.fit, self.validation = committed_train_parts(split)
        self.inputs = list(self.contract.model_input_columns)
        self.target = self.contract.target
        self.prepared = prepare(
            self.params,
            self.contract,
            self.fit[self.inputs],
            self.fit[self.target],
            Validation(self.validation[self.inputs], self.validation[self.target]),
        )
        self.fit_matrix = sp.csr_matrix(self.prepared.fit_matrix)
        self.validation_matrix = sp.csr_matrix(self.prepared.validation_matrix)
        self.probabilities: dict[str, Any] = {}
        self.classes: list[str] = []

    def matrix(self, rows: Any) -> Any:
        import scipy.sparse as sp

        return sp.csr_matrix(self.prepared.preprocessor.transform(rows[self.inputs]))

    def record(self, name: str, predict: Predict, fit_s: float, extra: dict) -> dict:
        proba = predict(self.validation)
        self.probabilities[name] = proba
        return {
            **extra,
            "fit_s": round(fit_s, 2),
            "scoring_s_per_10k_songs": _scoring_s_per_10k(
                predict, self.validation, len(self.validation)
            ),
            "scores": _scores(self.validation[self.target], proba, self.classes),
            "instrumental_rap": _instrumental_rap(
                predict, self.classes, self.fit, self.validation, self.target
            ),
        }


def _lightgbm(
    bench: Bench, random_state: int, matrices: tuple[Any, Any] | None = None
) -> tuple[Any, float]:
    """params.yaml's LightGBM fitted on the fit rows' matrix (the pipeline's blocks, or
    `matrices`' first), early-stopped on the validation part's (or `matrices`' second)."""
    import warnings

    from music_genre.modeling.build import build_pipeline
    from music_genre.modeling.threads import limited_threads

    fit_matrix, validation_matrix = matrices or (bench.fit_matrix, bench.validation_matrix)
    classifier = build_pipeline(bench.params.train, bench.params.tfidf, bench.contract)[-1]
    classifier.set_params(random_state=random_state)
    started = time.perf_counter()
    with limited_threads(1), warnings.catch_warnings():
        # LightGBM 4.7 deprecates eval_set, but encodes string labels only through it.
        warnings.filterwarnings("ignore", message="The argument 'eval_set' is deprecated")
        classifier.fit(
            fit_matrix,
            bench.fit[bench.target],
            eval_set=[(validation_matrix, bench.validation[bench.target])],
        )
    return classifier, time.perf_counter() - started


def committed(bench: Bench) -> dict:
    from music_genre.experiments.costs import decision_nodes

    classifier, seconds = _lightgbm(bench, BAG_SEEDS[0])
    bench.classes = [str(name) for name in classifier.classes_]
    return bench.record(
        "committed",
        lambda rows: classifier.predict_proba(bench.matrix(rows)),
        seconds,
        {"rounds": int(classifier.best_iteration_), "decision_nodes": decision_nodes(classifier)},
    )


def lightgbm_seed_bag_3(bench: Bench) -> dict:
    import numpy as np

    from music_genre.experiments.costs import decision_nodes

    members, seconds = zip(*(_lightgbm(bench, seed) for seed in BAG_SEEDS), strict=True)

    def raw(rows: Any) -> Any:
        matrix = bench.matrix(rows)
        return np.mean([m.predict_proba(matrix, raw_score=True) for m in members], axis=0)

    def predict(rows: Any) -> Any:
        scores = raw(rows)
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    result = bench.record(
        "lightgbm_seed_bag_3",
        predict,
        sum(seconds),
        {
            "rounds": [int(m.best_iteration_) for m in members],
            "decision_nodes": sum(decision_nodes(m) for m in members),
        },
    )
    averaged = np.mean([m.predict_proba(bench.validation_matrix) for m in members], axis=0)
    result["probability_average"] = _scores(bench.validation[bench.target], averaged, bench.classes)
    return result


def _catboost(
    bench: Bench, train: Any, evaluate: Any, options: dict | None = None, **pool: Any
) -> tuple[Any, float]:
    from catboost import CatBoostClassifier, Pool

    model = CatBoostClassifier(**CATBOOST, **(options or {}))
    started = time.perf_counter()
    model.fit(
        Pool(train, bench.fit[bench.target].to_numpy(), **pool),
        eval_set=Pool(evaluate, bench.validation[bench.target].to_numpy(), **pool),
    )
    seconds = time.perf_counter() - started
    order = [str(name) for name in model.classes_]
    if order != bench.classes:
        raise SystemExit(f"CatBoost's classes {order} are not LightGBM's {bench.classes}")
    return model, seconds


def _catboost_extra(model: Any) -> dict:
    return {
        "rounds": int(model.tree_count_),
        "decision_nodes_walked_per_row": int(model.tree_count_ * CATBOOST["depth"]),
    }


def catboost_tfidf(bench: Bench) -> dict:
    model, seconds = _catboost(bench, bench.fit_matrix, bench.validation_matrix)
    return bench.record(
        "catboost_tfidf",
        lambda rows: model.predict_proba(bench.matrix(rows)),
        seconds,
        _catboost_extra(model),
    )


def catboost_native_text(bench: Bench) -> dict:
    contract = bench.contract
    categorical = list(contract.categorical_features)
    text = list(contract.text_columns)
    columns = [*contract.numeric_features, *categorical, *text]

    def frame(rows: Any) -> Any:
        import pandas as pd

        out = rows[columns].copy()
        for name in [*categorical, *text]:  # CatBoost takes them as strings, missing as ""
            out[name] = [("" if pd.isna(value) else str(value)) for value in out[name]]
        return out

    pool = {"cat_features": categorical, "text_features": text}
    model, seconds = _catboost(
        bench, frame(bench.fit), frame(bench.validation), NATIVE_TEXT, **pool
    )

    def predict(rows: Any) -> Any:
        from catboost import Pool

        return model.predict_proba(Pool(frame(rows), **pool))

    return bench.record("catboost_native_text", predict, seconds, _catboost_extra(model))


def _text_model(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    from music_genre.modeling.text import TopTermsTfidfVectorizer

    vectorizers = [
        TopTermsTfidfVectorizer(
            analyzer=analyzer, ngram_range=STACK_TEXT[analyzer], sublinear_tf=True,
            max_features=STACK_TEXT["max_features"],
        )
        for analyzer in ("word", "char_wb")
    ]  # fmt: skip
    return make_pipeline(
        make_union(*vectorizers),
        LogisticRegression(C=STACK_TEXT["C"], max_iter=2000, random_state=seed),
    )


def stacked_text_model(bench: Bench) -> dict:
    import scipy.sparse as sp
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

    from music_genre.data.tracks import track_ids
    from music_genre.experiments.costs import decision_nodes
    from music_genre.modeling.threads import limited_threads

    text = bench.contract.text_feature
    if text is None:
        raise SystemExit("the contract has no text feature to stack a text model on")
    seed = bench.params.seed
    started = time.perf_counter()
    folds = StratifiedGroupKFold(n_splits=STACK_FOLDS, shuffle=True, random_state=seed)
    with limited_threads(1):
        out_of_fold = cross_val_predict(
            _text_model(seed), bench.fit[text], bench.fit[bench.target], cv=folds,
            groups=track_ids(bench.fit, bench.contract), method="predict_proba",
        )  # fmt: skip
        text_model = _text_model(seed).fit(bench.fit[text], bench.fit[bench.target])
    text_s = time.perf_counter() - started
    if [str(name) for name in text_model.classes_] != bench.classes:
        raise SystemExit("the text model's classes are not LightGBM's")

    def stacked(matrix: Any, rows: Any) -> Any:
        return sp.csr_matrix(sp.hstack([matrix, text_model.predict_proba(rows[text])]))

    classifier, forest_s = _lightgbm(
        bench,
        BAG_SEEDS[0],
        (
            sp.csr_matrix(sp.hstack([bench.fit_matrix, out_of_fold])),
            stacked(bench.validation_matrix, bench.validation),
        ),
    )
    text_alone = text_model.predict_proba(bench.validation[text])
    result = bench.record(
        "stacked_text_model",
        lambda rows: classifier.predict_proba(stacked(bench.matrix(rows), rows)),
        text_s + forest_s,
        {
            "rounds": int(classifier.best_iteration_),
            "decision_nodes": decision_nodes(classifier),
            "text_model": {**STACK_TEXT, "folds": STACK_FOLDS, "fit_s": round(text_s, 2)},
        },
    )
    result["text_model_alone"] = _scores(bench.validation[bench.target], text_alone, bench.classes)
    # Out of fold it should score the fit rows about as the full fit scores unseen rows.
    result["out_of_fold_log_loss"] = float(
        log_loss(bench.fit[bench.target], out_of_fold, labels=text_model.classes_)
    )
    return result


def blend_committed_catboost(bench: Bench, results: dict) -> dict:
    best = max(
        (n for n in ("catboost_tfidf", "catboost_native_text") if n in bench.probabilities),
        key=lambda name: results[name]["scores"]["roc_auc"],
    )
    proba = (bench.probabilities["committed"] + bench.probabilities[best]) / 2
    return {
        "members": ["committed", best],
        "scoring_s_per_10k_songs": round(
            results["committed"]["scoring_s_per_10k_songs"]
            + results[best]["scoring_s_per_10k_songs"],
            3,
        ),
        "scores": _scores(bench.validation[bench.target], proba, bench.classes),
    }


CANDIDATES = {
    "committed": committed,
    "lightgbm_seed_bag_3": lightgbm_seed_bag_3,
    "catboost_tfidf": catboost_tfidf,
    "catboost_native_text": catboost_native_text,
    "stacked_text_model": stacked_text_model,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default=str(ROOT / "data" / "split"))
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), default=None)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "ensembles.json"))
    options = parser.parse_args()
    try:
        import catboost
    except ImportError:
        catboost = None
    bench = Bench(Path(options.split))
    load_before = os.getloadavg()[0]
    chosen = options.only or list(CANDIDATES)
    results: dict[str, Any] = {}
    output = Path(options.output)
    if options.only and output.is_file():  # the candidates not measured keep their results
        results = json.loads(output.read_text())["candidates"]
    for name in ["committed", *(n for n in chosen if n != "committed")]:
        if name.startswith("catboost") and catboost is None:
            results[name] = {"skipped": "catboost is not installed (pip install catboost)"}
        else:
            results[name] = CANDIDATES[name](bench)
        print(name, json.dumps(results[name]), flush=True)
    # The blend needs both members' probabilities: CatBoost candidates fitted in this run.
    if any(name in bench.probabilities for name in ("catboost_tfidf", "catboost_native_text")):
        results["blend_committed_catboost"] = blend_committed_catboost(bench, results)
        print("blend_committed_catboost", json.dumps(results["blend_committed_catboost"]))
    measured = {
        "rows": {"fit": len(bench.fit), "validation": len(bench.validation)},
        "catboost": {
            "version": getattr(catboost, "__version__", None),
            "arguments": CATBOOST,
            "native_text_processing": NATIVE_TEXT,
        },
        "candidates": results,
    }
    write_results(str(output), measured, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
