"""Refit benchmark: what `train.refit` gives on the real split, side by side in one run.

    python benchmarks/refit.py [--split data/split] [--output benchmarks/results/refit.json]

The train stage fits on the train split's fit rows, early stopping on its validation part;
`train.refit` then fits the final model again on the whole train split, with the rounds chosen
on validation ("same_rounds") or those x whole / fit rows ("scaled_rounds"). Measured here with
params.yaml and contract.yaml as committed (only `train.refit` varied):

- **Choosing the rule without the test split** (nested): the fit rows are split again exactly
  as train splits the train split (grouped, stratified, `train.val_size`, `seed`); each rule is
  fitted on the fit rows from that inner split and scored on the outer validation part, which
  none of those fits saw. This is the comparison a rule may be chosen by.
- **What the committed test split says** (evaluate's metrics, for the record): each rule fitted
  as the train stage fits it, scored on the test split: roc_auc one-vs-one (the pipeline's
  metric) and one-vs-rest, accuracy, log loss.
- The cost of each: fit seconds (one thread, as the stage), boosting rounds and decision nodes
  (what scoring walks; experiments.costs), so a rule's gain can be weighed against its scoring.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from common import committed_train_parts, write_results

ROOT = Path(__file__).resolve().parents[1]
RULES = ("none", "same_rounds", "scaled_rounds")


def _fit(params: Any, contract: Any, fit_part: Any, validation_part: Any, rule: str) -> Any:
    """The train stage's recipe with `train.refit: rule`: the early-stopped fit, then the refit
    on fit + validation rows; the fitted pipeline, seconds and the validation rounds."""
    import pandas as pd

    from music_genre.modeling.fitting import Validation
    from music_genre.modeling.recipe import refitted, train_model

    inputs, target = list(contract.model_input_columns), contract.target
    train = params.train.model_copy(update={"refit": rule})
    params = params.model_copy(update={"train": train})
    started = time.perf_counter()
    trained = train_model(
        params,
        contract,
        fit_part[inputs],
        fit_part[target],
        Validation(validation_part[inputs], validation_part[target]),
    )
    whole = pd.concat([fit_part, validation_part], ignore_index=True)
    final = refitted(
        params, contract, trained, whole[inputs], whole[target], fit_rows=len(fit_part)
    )
    return final, time.perf_counter() - started, trained.rounds


def _scores(pipeline: Any, rows: Any, contract: Any) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from music_genre.modeling.metrics import classification_metrics
    from music_genre.modeling.threads import limited_threads

    with limited_threads(1):
        proba = pipeline.predict_proba(rows[list(contract.model_input_columns)])
    classes = [str(name) for name in pipeline.classes_]
    scores = classification_metrics(rows[contract.target], proba, classes)
    scores["roc_auc_ovr"] = float(
        roc_auc_score(rows[contract.target], proba, multi_class="ovr", average="macro")
    )
    return scores


def _measured(params: Any, contract: Any, parts: tuple[Any, Any], scored_on: Any) -> dict:
    from music_genre.experiments.costs import decision_nodes

    results = {}
    for rule in RULES:
        final, seconds, chosen = _fit(params, contract, *parts, rule)
        results[rule] = {
            "fit_s": round(seconds, 2),
            "validation_rounds": chosen,
            "rounds": final.rounds,
            "decision_nodes": decision_nodes(final.pipeline.named_steps["classifier"]),
            "scores": _scores(final.pipeline, scored_on, contract),
        }
        print(rule, json.dumps(results[rule]), flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default=str(ROOT / "data" / "split"))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "refit.json"))
    options = parser.parse_args()
    from music_genre.core.fileio import read_parquet
    from music_genre.data.splits import split_by

    split = Path(options.split)
    params, contract, fit_part, validation_part = committed_train_parts(split)
    inner = split_by(
        fit_part,
        contract,
        params.segregate.group_by,
        params.train.val_size,
        params.seed,
        what="validation",
    )
    test = read_parquet(str(split / "test.parquet"))
    load_before = os.getloadavg()[0]
    nested = _measured(params, contract, inner, validation_part)
    on_test = _measured(params, contract, (fit_part, validation_part), test)
    rows = {
        "fit": len(fit_part),
        "validation": len(validation_part),
        "inner_fit": len(inner[0]),
        "inner_validation": len(inner[1]),
        "test": len(test),
    }
    measured = {"rows": rows, "nested_on_validation": nested, "test": on_test}
    write_results(options.output, measured, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
