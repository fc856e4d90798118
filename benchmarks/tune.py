"""Tuning benchmark: `music-genre tune` against an AutoML library (FLAML) given the same time,
and the tuner on one and on two Dask workers.

Run after `dvc repro` (it reads the train and test splits):

    python benchmarks/tune.py [--seconds 300] [--trials 16] [--only budget dask default]

- budget: both searches at once, each pinned to its own core for `--seconds`: the tuner with
  params.yaml's `tune` space, and FLAML's AutoML (its default estimators) on the very same
  features (this project's preprocessing, fitted on train's fit part) and validation part,
  both scored by the project's metric code. Then each winner is scored once on the test split.
- dask: the same `--trials` count with `--workers 1` and `--workers 2` (wall time).
- default: the committed default's validation and test scores, before (at `--baseline-rev`)
  and now.

Results go to benchmarks/results/tune.json; other sections keep their last results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "data" / "split" / "train.parquet"
TEST = ROOT / "data" / "split" / "test.parquet"
AUTOML_SEED = 0


def pinned(process: subprocess.Popen, core: int) -> subprocess.Popen:
    """Keep `process` (started a moment ago, before its threads) on one core."""
    os.sched_setaffinity(process.pid, {core})
    return process


def budget(seconds: float, workdir: Path) -> dict[str, Any]:
    cores = sorted(os.sched_getaffinity(0))
    tune_core, automl_core = cores[0], cores[-1]
    reports = workdir / "reports"
    started = time.perf_counter()
    tuner = pinned(subprocess.Popen(
        [sys.executable, "-m", "music_genre.cli", "tune", "--timeout", str(seconds),
         "--no-experiment", "--study", "bench-budget", "--summaries", str(reports)],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    ), tune_core)  # fmt: skip
    automl_out = workdir / "automl.json"
    automl = pinned(subprocess.Popen(
        [sys.executable, __file__, "--automl-worker", "--seconds", str(seconds),
         "--output", str(automl_out)],
        cwd=ROOT,
    ), automl_core)  # fmt: skip
    tuner.wait()
    tune_s = time.perf_counter() - started
    automl.wait()
    if tuner.returncode or automl.returncode:
        raise SystemExit(f"tune exited {tuner.returncode}, AutoML {automl.returncode}")
    study = json.loads((reports / "bench-budget" / "trials.json").read_text())
    best = study["best"]
    test = test_scores_of_params(best["params"], workdir)
    return {
        "seconds": seconds,
        "cores": f"one each ({tune_core} and {automl_core}), at the same time",
        "tune": {
            "wall_s": tune_s,
            "trials": len(study["trials"]),
            "counts": study["counts"],
            "best_validation_roc_auc": best["value"],
            "best_trial": best["number"],
            "best_params": best["params"],
            "best_rounds": best["rounds"],
            "test": test,
        },
        "automl": json.loads(automl_out.read_text()),
        "tune_minus_automl_validation": best["value"]
        - json.loads(automl_out.read_text())["best_validation_roc_auc"],
    }


def test_scores_of_params(values: dict[str, Any], workdir: Path) -> dict[str, float]:
    """Fit the winning parameters as train does, then score the test split (read only here)."""
    from music_genre.core.fileio import read_parquet
    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.experiments.space import apply
    from music_genre.modeling.metrics import classification_metrics
    from music_genre.modeling.store import load_model
    from music_genre.pipeline.train import train

    params = apply(load_params(ROOT / "params.yaml"), values)
    contract = load_contract(ROOT / "contract.yaml")
    model = workdir / "model.joblib"
    train(
        params,
        str(TRAIN),
        str(model),
        str(workdir / "metrics"),
        str(workdir / "plots"),
        contract=contract,
    )
    pipeline, card = load_model(model)
    target = contract.target
    test = read_parquet(TEST, columns=[*card["input_columns"], target])
    proba = pipeline.predict_proba(test[card["input_columns"]])
    return classification_metrics(test[target], proba, card["classes"])


def automl_worker(seconds: float, output: Path) -> None:
    """FLAML's AutoML on this project's features and validation part, then the test split."""
    import numpy as np
    from flaml import AutoML

    from music_genre.core.fileio import read_parquet
    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.experiments.trial import load_trial_data
    from music_genre.modeling.build import build_pipeline
    from music_genre.modeling.metrics import classification_metrics

    params = load_params(ROOT / "params.yaml")
    contract = load_contract(ROOT / "contract.yaml")
    data = load_trial_data(params, str(TRAIN), contract)
    preprocessor = build_pipeline(params.train, params.tfidf, contract)[0]
    fit_x = preprocessor.fit_transform(data.fit_features, data.fit_target)
    validation_x = preprocessor.transform(data.validation_features)
    # FLAML's XGBoost learners want the genres as codes 0..14 (sorted, as sklearn orders them).
    names = np.unique(data.fit_target.to_numpy())
    automl = AutoML()
    automl.fit(
        X_train=fit_x,
        y_train=np.searchsorted(names, data.fit_target.to_numpy()),
        X_val=validation_x,
        y_val=np.searchsorted(names, data.validation_target.to_numpy()),
        task="classification",
        metric="roc_auc_ovo",
        time_budget=seconds,
        n_jobs=1,
        seed=AUTOML_SEED,
        verbose=0,
    )
    classes = [str(names[int(code)]) for code in automl.classes_]
    validation = classification_metrics(
        data.validation_target, automl.predict_proba(validation_x), classes
    )
    target = contract.target
    test = read_parquet(TEST, columns=[*contract.model_input_columns, target])
    test_scores = classification_metrics(
        test[target], automl.predict_proba(preprocessor.transform(test)), classes
    )
    output.write_text(
        json.dumps(
            {
                "library": "FLAML 2.8.0 AutoML, its default estimators",
                "best_validation_roc_auc": validation["roc_auc"],
                "validation": validation,
                "best_estimator": automl.best_estimator,
                "best_config": automl.best_config,
                "test": test_scores,
            },
            default=str,
        )
    )


def dask_speedup(trials: int, workdir: Path) -> dict[str, Any]:
    timings = {}
    for workers in (1, 2):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "music_genre.cli", "tune", "--trials", str(trials),
             "--workers", str(workers), "--no-experiment", "--study", f"bench-dask-{workers}",
             "--summaries", str(workdir / "reports")],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        timings[workers] = time.perf_counter() - started
    studies = {
        w: json.loads((workdir / "reports" / f"bench-dask-{w}" / "trials.json").read_text())
        for w in (1, 2)
    }
    return {
        "trials": trials,
        "one_worker_s": timings[1],
        "two_workers_s": timings[2],
        "two_over_one": timings[2] / timings[1],
        "best_validation_roc_auc": {str(w): s["best"]["value"] for w, s in studies.items()},
        "counts": {str(w): s["counts"] for w, s in studies.items()},
    }


def default_scores(baseline_rev: str) -> dict[str, Any]:
    def scores(read: Any) -> dict[str, Any]:
        validation = json.loads(read("metrics/train/metrics.json"))
        test = json.loads(read("metrics/evaluate/metrics.json"))
        params = __import__("yaml").safe_load(read("params.yaml"))
        return {
            "validation_roc_auc": validation["roc_auc"],
            "test": test,
            "lightgbm": params["train"]["lightgbm"],
            "tfidf": params["tfidf"],
        }

    def at_rev(path: str) -> str:
        return subprocess.run(
            ["git", "show", f"{baseline_rev}:{path}"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip

    return {
        "baseline_rev": baseline_rev,
        "before": scores(at_rev),
        "now": scores(lambda path: (ROOT / path).read_text()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--baseline-rev", default="HEAD")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "tune.json"))
    parser.add_argument("--automl-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.automl_worker:
        automl_worker(args.seconds, Path(args.output))
        return
    output = Path(args.output)
    results = json.loads(output.read_text()) if args.only and output.is_file() else {}
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": len(os.sched_getaffinity(0)),
        "processor": platform.machine(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        sections = {
            "budget": lambda: budget(args.seconds, Path(tmp)),
            "dask": lambda: dask_speedup(args.trials, Path(tmp)),
            "default": lambda: default_scores(args.baseline_rev),
        }
        for name, measure in sections.items():
            if not args.only or name in args.only:
                results[name] = measure()
                print(name, json.dumps(results[name], default=str)[:2000], flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
