"""The real `dvc repro` in a temporary git copy of the project."""

import json
from pathlib import Path

import pytest
import yaml

from music_genre.pipeline.get_data import MIRROR_ENV
from support.project import REPRO_LOG, clone_project, run, set_params

STAGES = ("get_data", "preprocess", "check_data", "segregate", "train", "evaluate", "eda")


def ran_stages(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def declared_outputs(project: Path) -> list[Path]:
    spec = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    paths = []
    for stage in spec.values():
        for section in ("outs", "metrics"):
            for entry in stage.get(section, []):
                paths.append(project / (next(iter(entry)) if isinstance(entry, dict) else entry))
    return paths


def read_metrics(project: Path) -> dict:
    return {
        name: json.loads((project / "metrics" / name / "metrics.json").read_text())
        for name in ("train", "evaluate")
    }


@pytest.mark.realdata
def test_repro_on_the_real_data(project, real_data):
    mirror = {MIRROR_ENV: str(real_data.parent)}
    first = run(["dvc", "repro"], project, **mirror)
    # check_data's report is git-tracked: with its inputs unchanged since the committed run,
    # DVC rightly skips it (the data was validated under the same hash).
    assert set(ran_stages(first.stdout)) >= set(STAGES) - {"check_data"}
    for path in declared_outputs(project):
        assert path.exists(), path
    metrics = read_metrics(project)
    assert metrics["evaluate"]["roc_auc"] >= 0.94
    assert set(metrics["evaluate"]) >= {"roc_auc", "accuracy", "f1_macro", "log_loss"}
    # The committed lock file and metrics come from this very run, bit for bit.
    assert run(["git", "diff", "--stat", "--", "dvc.lock", "metrics"], project).stdout == ""

    assert ran_stages(run(["dvc", "repro"], project, **mirror).stdout) == []

    set_params(project, train__lightgbm__num_leaves=7)
    changed = run(["dvc", "repro"], project, **mirror)
    assert ran_stages(changed.stdout) == ["train", "evaluate"]

    run(["git", "checkout", "--", "params.yaml"], project)
    run(["dvc", "repro", "--force"], project, **mirror)
    assert read_metrics(project) == metrics
    assert run(["git", "diff", "--stat", "--", "dvc.lock", "metrics"], project).stdout == ""


def test_synthetic_source_runs_end_to_end(synthetic_project, tmp_path):
    """The default tier's one end-to-end `dvc repro` is the shared synthetic project's own
    (a small synthetic table, the default estimator with fewer rounds)."""
    assert ran_stages((synthetic_project / REPRO_LOG).read_text()) == list(STAGES)
    project = clone_project(synthetic_project, tmp_path / "project")
    for path in declared_outputs(project):
        assert path.exists(), path
    assert read_metrics(project)["evaluate"]["roc_auc"] > 0.8
    assert ran_stages(run(["dvc", "repro"], project).stdout) == []


def test_training_curves_are_a_dvc_plot(synthetic_project, tmp_path):
    """The default model's loss per round, as `dvc plots show` renders it (no re-run)."""
    project = clone_project(synthetic_project, tmp_path / "project")
    shown = json.loads(run(["dvc", "plots", "show", "--json", "training_curves"], project).stdout)
    points = [
        point
        for plot in shown["data"]["training_curves"]
        for point in plot["content"]["data"]["values"]
    ]
    # Both curves (the files' common folder is left out of their names), one row a round.
    files = {point["filename"] for point in points}
    assert files == {"training/multi_logloss.tsv", "validation/multi_logloss.tsv"}
    rounds = json.loads((project / "metrics/train/metrics.json").read_text())
    steps = sorted({int(point["step"]) for point in points})
    assert steps[0] == 1 and steps[-1] == rounds["step"]
    assert rounds["boosting_rounds"] <= rounds["step"]


def test_a_table_failing_the_schema_stops_at_check_data(project, tmp_path, synthetic_raw):
    bad = synthetic_raw.copy()
    bad.loc[:9, "tempo"] = 999.0
    bad.loc[20, "genre"] = "Polka"
    bad_path = tmp_path / "bad.parquet"
    bad.to_parquet(bad_path, index=False)
    set_params(project, data__source=str(bad_path), data__sha256=None)
    result = run(["dvc", "repro"], project, check=False)
    assert result.returncode != 0
    ran = ran_stages(result.stdout)
    assert ran[:2] == ["get_data", "preprocess"] and "check_data" in ran
    assert not {"segregate", "train", "evaluate"} & set(ran)
    assert "check_data: error: data/prepared/songs.parquet: 2 of" in result.stderr
    assert "in_range(50.0, 250.0)" in result.stderr and "Polka" in result.stderr
    report = json.loads((project / "metrics" / "check_data.json").read_text())
    assert report["passed"] is False
    assert not (project / "data" / "split").exists() or not any(
        (project / "data" / "split").glob("*.parquet")
    )
    assert not (project / "models" / "model.joblib").exists()
