"""Markdown tables of benchmarks/results/*.json and the tuner's committed study, each with its
freshness note."""

from __future__ import annotations

import importlib.util
from typing import Any

from sitegen.freshness import STUDY_MEASURES, result_freshness
from sitegen.notes import freshness_note, result_note
from sitegen.sources import ROOT, fmt, load, lookup
from sitegen.tables import table


def pipeline() -> str:
    """benchmarks/pipeline.py's own rendering of its results (its goals live there)."""
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "benchmarks/pipeline.py")
    if spec is None or spec.loader is None:
        raise ImportError("benchmarks/pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.table(load("pipeline")) + "\n\n" + result_note("benchmarks/results/pipeline.json")


def _rest(key: str) -> list[str]:
    return [
        fmt(lookup("serving", f"{key}.single_song_latency_p50_ms"), "ms"),
        fmt(lookup("serving", f"{key}.single_song_latency_p99_ms"), "ms"),
        fmt(lookup("serving", f"{key}.throughput_requests_per_s"), ".0f"),
        fmt(lookup("serving", f"{key}.errors")),
    ]


def serving() -> str:
    rows = [
        [
            f"`serve` ({lookup('serving', 'rest.workers')} workers, the default here)",
            *_rest("rest"),
        ],
        ["`serve --workers 1`", *_rest("rest_one_worker")],
        ["monitoring off (`--no-monitoring`)", *_rest("monitoring.off")],
        ["monitoring on", *_rest("monitoring.on")],
    ]
    header = ["one song per request", "p50", "p99", "requests/s (concurrency 8)", "errors"]
    batch = [
        [
            "batch `predict`, rows per second",
            fmt(lookup("serving", "batch.predict_file_rows_per_s"), ",.0f"),
        ],
        [
            "batch `predict` / bare `predict_proba`",
            fmt(lookup("serving", "batch.overhead_ratio"), "x"),
        ],
        ["monitoring: p50 added", fmt(lookup("serving", "monitoring.p50_delta_ms"), "ms")],
        [
            "monitoring: throughput kept",
            fmt(lookup("serving", "monitoring.throughput_on_over_off"), "%"),
        ],
        [
            "`/explain` one song, p50 / p99",
            " / ".join(
                fmt(lookup("serving", f"explain.single_song_{q}_ms"), "ms") for q in ("p50", "p99")
            ),
        ],
        [
            "`/explain` / `/predict` on the same batch",
            fmt(lookup("serving", "explain.batch_explain_over_predict"), "x"),
        ],
        [
            "TreeSHAP / booster predict, in process",
            fmt(lookup("serving", "explain_compute.explain_over_predict"), "x"),
        ],
        [
            "cost per song at the `/predict` cap",
            fmt(lookup("serving", "predict_at_cap.per_song_ms"), "ms"),
        ],
        [
            "cost per song at the `/explain` cap",
            fmt(lookup("serving", "explain_at_cap.per_song_ms"), "ms"),
        ],
    ]
    return (
        table(header, rows)
        + "\n\n"
        + table(["measure", "value"], batch)
        + "\n\n"
        + result_note("benchmarks/results/serving.json")
    )


def _test_scores(node: dict[str, Any]) -> list[str]:
    return [fmt(node["test"][m], ".4f") for m in ("roc_auc", "accuracy", "f1_macro")]


def tune() -> str:
    budget = load("tune")["budget"]
    seconds = fmt(budget["seconds"])
    rows = [
        [
            "`music-genre tune`",
            fmt(budget["tune"]["trials"]),
            fmt(budget["tune"]["best_validation_roc_auc"], ".5f"),
            *_test_scores(budget["tune"]),
        ],
        [
            f"{budget['automl']['library']} (best: {budget['automl']['best_estimator']})",
            "",
            fmt(budget["automl"]["best_validation_roc_auc"], ".5f"),
            *_test_scores(budget["automl"]),
        ],
    ]
    header = [
        f"{seconds} s, one core each",
        "trials",
        "best validation roc_auc",
        "its test roc_auc",
        "test accuracy",
        "test f1_macro",
    ]
    dask = load("tune")["dask"]
    dask_rows = [
        ["trials", fmt(dask["trials"])],
        ["one worker", fmt(dask["one_worker_s"], "s")],
        ["two workers", fmt(dask["two_workers_s"], "s")],
        ["two / one", fmt(dask["two_over_one"], "x")],
    ]
    return (
        table(header, rows)
        + "\n\n"
        + table(["the tuner on Dask", "value"], dask_rows)
        + "\n\n"
        + result_note("benchmarks/results/tune.json")
    )


def study() -> str:
    name = lookup("params", "tune.study")
    folder = f"plots/tune/{name}"
    data = _study(folder)
    best = data["best"]
    rows = [
        [
            "trials (completed / pruned / failed)",
            " / ".join(fmt(data["counts"].get(k, 0)) for k in ("complete", "pruned", "fail")),
        ],
        ["chosen trial", f"#{best['number']}"],
        [f"its validation {data['metric']}", fmt(best["value"], ".5f")],
        ["its boosting rounds", fmt(best["rounds"])],
        *[
            [f"`{key}`", fmt(value, ".4g") if isinstance(value, float) else fmt(value)]
            for key, value in best["params"].items()
        ],
    ]
    note = freshness_note(
        result_freshness(f"{folder}/trials.json", STUDY_MEASURES), "music-genre tune"
    )
    return (
        table([f"study `{name}` ({folder}/trials.json)", "value"], rows)
        + "\n\n"
        + note
        + "\n\n"
        + _cost_aware_choice(data)
    )


def _cost_aware_choice(data: dict[str, Any]) -> str:
    """The study's choice within tune.max_nodes beside the best score whatever it costs, the
    cap's estimate from the scoring benchmark, and the Pareto front of score and nodes."""
    from music_genre.experiments.costs import choose

    trials = {row["number"]: row for row in data["trials"]}
    # The tuner's own rule without a cap (ties: fewer nodes, then the earlier trial).
    unbounded = choose(data["trials"], data["direction"] == "maximize", None)
    chosen = data["best"]
    scoring = load("scoring")
    nodes = scoring["build"]["decision_nodes"]
    rate = scoring["batch"]["compiled"]["rows_per_s"]
    goal = scoring["goals"]["predict_file_rows_per_s"]["goal"]
    load_before = scoring["batch"]["load_1min"]["before"]
    load_after = scoring["batch"]["load_1min"]["after"]

    def described(row: dict[str, Any]) -> list[str]:
        costs = row.get("costs") or {}
        return [
            f"#{row['number']}",
            fmt(row["value"], ".5f"),
            fmt(costs.get("nodes")),
            fmt(costs.get("scoring_ms_per_10k"), ".0f"),
            fmt(costs.get("fit_seconds"), ".1f"),
        ]

    cap = data["max_nodes"]
    choice = [
        [f"chosen within `tune.max_nodes` = {fmt(cap) if cap else 'null'}", *described(chosen)],
        [f"the best {data['metric']} whatever it costs", *described(unbounded)],
    ]
    front = [
        ["on the Pareto front", *described(trials[number])] for number in data["pareto_front"]
    ]
    header = [
        "trial",
        "number",
        f"validation {data['metric']}",
        "decision nodes",
        "scoring ms / 10,000 rows (the pipeline, one run)",
        "fit s",
    ]
    estimate = (
        f"The cap's estimate: the committed model has {fmt(nodes)} decision nodes and the "
        f"compiled scorer predicts a file at {fmt(rate, ',.0f')} rows/s on one core "
        f"(`benchmarks/results/scoring.json`); at {fmt(goal, ',.0f')} rows/s, with time "
        f"proportional to nodes, that is {fmt(nodes * rate / goal, ',.0f')} nodes (that run's "
        f"1-minute load average: {fmt(load_before, '.1f')} before, {fmt(load_after, '.1f')} "
        "after, on 2 cores; a loaded run lowers the rate, so the cap was set from a quiet one)."
    )
    return table(header, choice + front) + "\n\n" + estimate


def _study(folder: str) -> dict[str, Any]:
    import json

    return json.loads((ROOT / folder / "trials.json").read_text(encoding="utf-8"))


def sweep() -> str:
    data = load("sweep")
    setup = data["setup"]
    rows = [
        [
            f"`dvc exp run --run-all -j {setup['workers']}` (DVC's queue, nothing pushed)",
            fmt(data["queue_run_all_j2_s"], "s"),
            fmt(1.0, ".2f") + "\u00d7",
        ],
        [
            f"`music-genre sweep` on {setup['workers']} Dask workers (clone, pull, run, push each)",
            fmt(data["dask_sweep_s"], "s"),
            fmt(data["ratio_dask_to_queue"], "x"),
        ],
    ]
    head = f"{setup['experiments']} experiments, {fmt(setup['synthetic_rows'])} synthetic rows"
    return (
        table([head, "wall time", "ratio"], rows)
        + "\n\n"
        + result_note("benchmarks/results/sweep.json")
    )


def report() -> str:
    median = load("report")["median"]
    goals = load("report")["goals"]
    rows = [
        [
            "`dvc params diff` + `dvc metrics diff` + `dvc plots diff`, one after the other",
            fmt(median["dvc_diffs_alone"], "s"),
            "",
        ],
        [
            "`music-genre report HEAD`",
            fmt(median["report"], "s"),
            f"≤ {fmt(goals['report_seconds'], 's')}",
        ],
        ["ratio", fmt(median["ratio"], "x"), f"≤ {fmt(goals['ratio_to_dvc_diffs'], 'x')}"],
    ]
    return (
        table(["median of the runs", "seconds", "goal"], rows)
        + "\n\n"
        + result_note("benchmarks/results/report.json")
    )


def tiers() -> str:
    data = load("tests")
    rows = [
        [
            "default (`pytest`)",
            fmt(data["tiers"]["default"]["tests_passed"]),
            fmt(data["tiers"]["default"]["seconds"], "s"),
            f"≤ {fmt(data['goals']['default_tier_s'], 's')}",
        ],
        [
            "system (`pytest -m system`)",
            fmt(data["tiers"]["system"]["tests_passed"]),
            fmt(data["tiers"]["system"]["seconds"], "s"),
            f"≤ {fmt(data['goals']['system_tier_s'], 's')}",
        ],
        [
            "`.ci/run` end to end",
            "",
            fmt(data["ci"]["total"], "min"),
            f"≤ {fmt(data['goals']['ci_total_s'], 'min')}",
        ],
    ]
    cov = data["coverage"]["after"]
    text = table(["tier", "tests", "time", "goal"], rows)
    text += (
        f"\n\nBranch coverage of `src/` over both tiers: {fmt(cov['branch_percent'])}% "
        f"({fmt(cov['branches'])} branches)."
    )
    return text + "\n\n" + result_note("benchmarks/results/tests.json")


def python_versions() -> str:
    data = load("python_versions")
    files = data["git_tracked_metrics_and_plots"]
    rows = [
        ["reference / other Python", f"{data['reference']['python']} / {data['other']['python']}"],
        [
            "git-tracked metrics and plots identical",
            f"{fmt(files['identical'])} of {fmt(files['files'])}",
        ],
        [
            "dvc.lock outputs differing",
            ", ".join(f"`{p}`" for p in data["dvc_lock_outputs"]["differing"]) or "none",
        ],
        ["test probabilities identical", fmt(data["model"]["test_probabilities_identical"])],
        ["trees identical", fmt(data["model"]["trees_identical"])],
    ]
    return (
        table(["measure", "value"], rows)
        + "\n\n"
        + result_note("benchmarks/results/python_versions.json")
    )


_REFIT_RULES = {
    "none": "`none`: the early-stopped fit",
    "same_rounds": "`same_rounds`: refitted, the same rounds",
    "scaled_rounds": "`scaled_rounds`: refitted, rounds x whole / fit rows",
}


def refit() -> str:
    """benchmarks/refit.py: each train.refit rule chosen on validation (nested), and on test."""
    data = load("refit")
    rows = []
    for rule, label in _REFIT_RULES.items():
        nested, test = data["nested_on_validation"][rule], data["test"][rule]
        rows.append(
            [
                label,
                fmt(nested["scores"]["roc_auc"], ".5f"),
                fmt(test["scores"]["roc_auc"], ".5f"),
                fmt(test["scores"]["roc_auc_ovr"], ".5f"),
                fmt(test["scores"]["accuracy"], ".4f"),
                fmt(test["rounds"]),
                fmt(test["decision_nodes"]),
                fmt(test["fit_s"], "s"),
            ]
        )
    header = [
        "train.refit",
        "validation roc_auc (nested)",
        "test roc_auc (ovo)",
        "test roc_auc (ovr)",
        "test accuracy",
        "rounds",
        "decision nodes",
        "fit + refit",
    ]
    return table(header, rows) + "\n\n" + result_note("benchmarks/results/refit.json")


_TEXT_CANDIDATES = {
    "committed": "the committed blocks (numeric, categorical, word TF-IDF)",
    "char_wb_2_4": "+ character 2-4-grams within words (TF-IDF)",
    "word_1_2": "+ word 1- and 2-grams (TF-IDF, twice the terms)",
    "title_category": "+ the playlist title as an ordinal category",
    "title_native_category": "+ the title as a LightGBM categorical",
    "text_statistics": "+ nine statistics of the song name and title (two about songs)",
    "statistics_block": "+ the statistics block: six per text column (`tfidf.statistics`)",
    "statistics_case_blind": "+ the same without the share of capitals, on stripped text",
}


def text_features() -> str:
    """benchmarks/text_features.py: each candidate text block beside the committed ones."""
    candidates = load("text_features")["candidates"]
    rows = []
    for name, label in _TEXT_CANDIDATES.items():
        found = candidates[name]
        rows.append(
            [
                label,
                fmt(found["scores"]["roc_auc"], ".5f"),
                fmt(found["scores"]["roc_auc_ovr"], ".5f"),
                fmt(found["scores"]["log_loss"], ".4f"),
                fmt(found["scores"]["accuracy"], ".4f"),
                fmt(found["rounds"]),
                fmt(found["decision_nodes"]),
                fmt(found["fit_s"], "s"),
                fmt(found["instrumental_rap"]["share_more_electronic"], ".2f"),
            ]
        )
    header = [
        "preprocessing (validation part)",
        "roc_auc (ovo)",
        "roc_auc (ovr)",
        "log loss",
        "accuracy",
        "rounds",
        "decision nodes",
        "fit",
        "rap songs more electronic when instrumental (≥ 0.7)",
    ]
    return table(header, rows) + "\n\n" + result_note("benchmarks/results/text_features.json")


_ENSEMBLE_CANDIDATES = {
    "committed": "the committed model (LightGBM, params.yaml)",
    "lightgbm_seed_bag_3": "three LightGBM seeds, raw scores averaged",
    "catboost_tfidf": "CatBoost on the same blocks",
    "catboost_native_text": "CatBoost, its own categorical and text features",
    "stacked_text_model": "stacked: LightGBM with a linear text model's out-of-fold probabilities",
    "blend_committed_catboost": "the committed model and {member}, averaged",
}


def ensembles() -> str:
    """benchmarks/ensembles.py: other estimators and ensembles beside the committed model."""
    found_all = load("ensembles")["candidates"]
    rows = []
    for name, label in _ENSEMBLE_CANDIDATES.items():
        found = found_all.get(name)
        if found is None or "scores" not in found:
            reason = "not measured" if found is None else found.get("skipped", "not measured")
            rows.append([label, *([reason] + ["—"] * 7)])
            continue
        named = label  # the blend names its CatBoost member
        if "members" in found:
            named = label.format(member=_ENSEMBLE_CANDIDATES[found["members"][-1]])
        scores = found["scores"]
        rap = found.get("instrumental_rap")
        rows.append(
            [
                named,
                fmt(scores["roc_auc"], ".5f"),
                fmt(scores["roc_auc_ovr"], ".5f"),
                fmt(scores["log_loss"], ".4f"),
                fmt(scores["accuracy"], ".4f"),
                fmt(found["fit_s"], "s") if "fit_s" in found else "—",
                fmt(found["scoring_s_per_10k_songs"], "s"),
                fmt(found["decision_nodes"]) if "decision_nodes" in found else "—",
                fmt(rap["share_more_electronic"], ".2f") if rap else "—",
            ]
        )
    header = [
        "model (validation part)",
        "roc_auc (ovo)",
        "roc_auc (ovr)",
        "log loss",
        "accuracy",
        "fit",
        "scoring 10,000 songs (own predictor)",
        "decision nodes",
        "rap songs more electronic when instrumental (≥ 0.7)",
    ]
    return table(header, rows) + "\n\n" + result_note("benchmarks/results/ensembles.json")
