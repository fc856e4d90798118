"""Experiments: queued sweeps, branch comparisons, and the second estimator, with real dvc
(system tier: each runs several stages on a clone of the shared synthetic project)."""

import json

import pytest

from support.project import clone_project, run, set_params

pytestmark = pytest.mark.queue


def test_queued_sweep_runs_every_combination(synthetic_project, tmp_path):
    project = clone_project(synthetic_project, tmp_path / "project")
    run(["dvc", "exp", "run", "--queue", "-S", "train.lightgbm.num_leaves=3,15"], project)
    # --run-all exits 0 even when an experiment fails: the queue status is what counts.
    run(["dvc", "exp", "run", "--run-all", "-j", "2"], project)
    status = run(["dvc", "queue", "status"], project).stdout
    assert status.count("Success") == 2, status
    assert "Failed" not in status

    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or [])]
    leaves, aucs = set(), set()
    for experiment in experiments:
        data = experiment["revs"][0]["data"]
        leaves.add(data["params"]["params.yaml"]["data"]["train"]["lightgbm"]["num_leaves"])
        aucs.add(data["metrics"]["metrics/evaluate/metrics.json"]["data"]["roc_auc"])
        assert "roc_auc" in data["metrics"]["metrics/train/metrics.json"]["data"]
    assert leaves == {3, 15}
    assert len(aucs) == 2


def test_metrics_and_params_diff_against_main_from_a_branch(synthetic_project, tmp_path):
    project = clone_project(synthetic_project, tmp_path / "project")
    run(["git", "checkout", "-q", "-b", "fewer-rounds"], project)
    set_params(project, train__lightgbm__n_estimators=3)
    run(["dvc", "repro"], project)
    run(["git", "commit", "-qam", "three boosting rounds"], project)

    metrics = json.loads(run(["dvc", "metrics", "diff", "main", "--json"], project).stdout)
    roc = metrics["metrics/evaluate/metrics.json"]["roc_auc"]
    assert roc["diff"] != 0 and roc["new"] < roc["old"]
    params = json.loads(run(["dvc", "params", "diff", "main", "--json"], project).stdout)
    change = params["params.yaml"]["train.lightgbm.n_estimators"]
    assert (change["old"], change["new"]) == (60, 3)


def test_hist_gradient_boosting_runs_end_to_end(synthetic_project, tmp_path):
    project = clone_project(synthetic_project, tmp_path / "project")
    result = run(
        [
            "dvc",
            "exp",
            "run",
            "-S",
            "train.model=hist_gradient_boosting",
            "-S",
            "train.hist_gradient_boosting.max_iter=40",
        ],
        project,
    )
    ran = [line for line in result.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == [
        "Running stage 'train':",
        "Running stage 'package':",
        "Running stage 'evaluate':",
    ]
    card = json.loads((project / "models" / "model.json").read_text())
    assert card["estimator"] == "HistGradientBoostingClassifier"
    metrics = json.loads((project / "metrics" / "evaluate" / "metrics.json").read_text())
    assert metrics["roc_auc"] > 0.8
    importances = json.loads(
        (project / "plots" / "evaluate" / "custom" / "feature_importance.json").read_text()
    )
    assert {row["feature"] for row in importances} >= {"tempo", "text_feature"}
    # Its curves come from train_score_/validation_score_, one row per iteration.
    curve = (project / "plots/train/metrics/validation/multi_logloss.tsv").read_text().splitlines()
    assert curve[0] == "step\tmulti_logloss" and len(curve) - 1 == card["boosting_rounds"]
