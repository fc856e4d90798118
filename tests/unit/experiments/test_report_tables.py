"""experiments.report's tables and notes, on hand-made DVC diff output (no dvc run)."""

from __future__ import annotations

import sys

import pytest

from music_genre.core.errors import PipelineError
from music_genre.experiments.report.figures import render_plots
from music_genre.experiments.report.gates import Gate, check_gates
from music_genre.experiments.report.markdown import _delta, _metric_rows, _show
from music_genre.experiments.report.sources import METRICS_FILES, _check_summary, captioned_plots

# The report of a contract whose target is `species`.
TARGET = "species"
PLOTS = captioned_plots(TARGET)

PNG = b"\x89PNG\r\n\x1a\n"


def _vega(revisions, title="t"):
    values = [{"x": 1, "rev": rev} for rev in revisions]
    return [
        {
            "type": "vega",
            "revisions": revisions,
            "content": {"title": title, "data": {"values": values}},
        }
    ]


def test_values_and_deltas_say_new_removed_and_unchanged():
    assert _delta(None, 0.5) == "new"
    assert _delta(0.5, None) == "removed"
    assert _delta(0.5, 0.75) == "+0.25000"
    assert _delta(3, 1) == "-2"
    assert _delta(2, 2) == "0"
    assert _delta("track", "none") == "changed"
    assert (_show(None), _show(0.123456), _show(12345), _show("lightgbm")) == (
        "—",
        "0.12346",
        "12,345",
        "`lightgbm`",
    )


def test_headline_metrics_come_first_then_the_rest_without_step():
    metrics = {
        METRICS_FILES["train"]: {
            "step": {"old": 1, "new": 2},
            "zeta": {"old": 1, "new": 1},
            "roc_auc": {"old": 0.9, "new": 0.91},
        },
        METRICS_FILES["evaluate"]: {"log_loss": {"old": None, "new": 0.7}},
    }
    rows = _metric_rows(metrics)
    assert [label for label, _, _ in rows] == ["test log_loss", "validation roc_auc", "train zeta"]
    assert rows[0] == ("test log_loss", None, 0.7)


def test_a_plot_only_one_revision_has_is_marked_and_still_drawn(tmp_path):
    roc, pr, confusion, curves = PLOTS
    plots = {
        f"dvc.yaml::{roc}": _vega(["workspace", "main"]),
        f"dvc.yaml::{pr}": _vega(["workspace"]),
        # No dvc.yaml definition in the output: the bare file is used.
        confusion: _vega(["main"]),
    }
    drawn = []
    notes = render_plots(
        plots, "main", tmp_path, lambda spec: drawn.append(spec) or PNG, target=TARGET
    )
    by_caption = {caption: (file, note) for caption, file, note in notes}
    assert by_caption["ROC per species (test)"] == (PLOTS[roc][0], "")
    assert by_caption[PLOTS[pr][1]][1] == "new: `main` has no data for it"
    assert by_caption[PLOTS[confusion][1]][1] == "removed: only the base has it"
    assert by_caption[PLOTS[curves][1]] == ("", "not in either revision")
    assert len(drawn) == 3
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        PLOTS[plot][0] for plot in (roc, pr, confusion)
    )


def test_the_f1_movers_table_is_headed_by_the_target():
    from music_genre.experiments.report.markdown import render_markdown, report_sections

    values = [
        {"species": "Adelie", "f1": 0.5, "rev": "main"},
        {"species": "Adelie", "f1": 0.75, "rev": "workspace"},
        {"species": "Gentoo", "f1": 0.9, "rev": "main"},
        {"species": "Gentoo", "f1": 0.8, "rev": "workspace"},
    ]
    plot = [{"content": {"data": {"values": values}}}]
    diffs = _diffs(plots={"dvc.yaml::plots/evaluate/custom/per_species.json": plot})
    text = "\n".join(render_markdown("main", diffs, report_sections(diffs, "main"), []))
    assert "| species | `main` | workspace | Δ |" in text
    assert "| Adelie | 0.50000 | 0.75000 | +0.25000 |" in text
    assert "| Gentoo | 0.90000 | 0.80000 | -0.10000 |" in text


def test_check_summary_keeps_rows_checks_tracks_and_drifting_columns():
    report = {
        "passed": True,
        "rows": 10,
        "checks": {"passed": 3, "failed": 0},
        "tracks": {"conflicting": 2},
        # The shape check_data writes (pipeline.check_data.drift_tests).
        "drift": {
            "family_alpha": 0.05,
            "columns": [
                {"column": "tempo", "statistic": 0.3, "p_value": 0.0, "passed": False, "psi": 1.2},
                {"column": "energy", "statistic": 0.01, "p_value": 0.9, "passed": True, "psi": 0.0},
            ],
        },
        "failures": [],
    }
    assert _check_summary(report) == {
        "passed": True,
        "rows": 10,
        "checks.passed": 3,
        "checks.failed": 0,
        "tracks.conflicting": 2,
        "drifting columns": ["tempo"],
    }
    assert _check_summary(None) == {}


def test_gates_report_what_they_checked_and_what_failed():
    metrics = {
        METRICS_FILES["evaluate"]: {"roc_auc": {"old": 0.96, "new": 0.955}},
        METRICS_FILES["train"]: {"boosting_rounds": {"old": None, "new": 40}},
    }
    lines, violations = check_gates(
        [Gate.parse("roc_auc:-0.002"), Gate.parse("train.boosting_rounds:5")], metrics
    )
    assert violations == [
        "evaluate.roc_auc moved by -0.005000, beyond the allowed -0.002 (0.960000 -> 0.955000)"
    ]
    assert "Gate `train.boosting_rounds`: not in both revisions, not checked." in lines
    assert "## Merge gate: failed" in lines
    lines, violations = check_gates([Gate.parse("roc_auc:-0.01")], metrics)
    assert violations == [] and "## Merge gate: passed" in lines


@pytest.mark.parametrize("text", ["roc_auc", "roc_auc:", ":0.1", "roc_auc:nan", "roc_auc:inf"])
def test_a_malformed_gate_is_one_line(text):
    with pytest.raises(PipelineError, match=rf"^--fail-on '{text}': expected METRIC:DELTA"):
        Gate.parse(text)


def _diffs(**changes):
    from music_genre.experiments.report.sources import Diffs

    fields = {
        "target": TARGET,
        "params": {},
        "metrics": {},
        "plots": {},
        "base_card": None,
        "card": {"model": "lightgbm"},
        "base_checks": {},
        "checks": {},
    }
    return Diffs(**{**fields, **changes})


def test_markdown_sections_for_checks_a_missing_card_and_unmoved_classes():
    from music_genre.experiments.report.markdown import render_markdown, report_sections

    diffs = _diffs(
        base_checks={"rows": 10, "passed": True},
        checks={"rows": 12, "passed": True},
        plots={
            "dvc.yaml::plots/evaluate/custom/per_species.json": [
                {
                    "content": {
                        "data": {
                            "values": [
                                {"species": "Adelie", "f1": 0.5, "rev": "main"},
                                {"species": "Adelie", "f1": 0.5, "rev": "workspace"},
                            ]
                        }
                    }
                }
            ]
        },
    )
    sections = report_sections(diffs, "main")
    assert sections["data"] == [("rows", 10, 12)]
    text = "\n".join(render_markdown("main", diffs, sections, []))
    assert "## Data checks and split" in text and "| `rows` | 10 | 12 |" in text
    assert sections["f1"] == [("Adelie", 0.5, 0.5)]
    assert "### Per-species F1 (test): largest gains and losses" in text
    assert "No species's F1 moved." in text
    assert "The model card of `main` is not in the DVC cache or remote." in text
    same = _diffs(base_card={"model": "lightgbm"})
    text = "\n".join(render_markdown("main", same, report_sections(same, "main"), []))
    assert "Estimator, rounds and training rows are unchanged." in text
    assert "No param changed." in text and "Per-species F1" not in text


def test_a_revision_that_looks_like_an_option_and_a_failing_dvc_are_one_line(tmp_path):
    from music_genre.experiments.report.sources import dvc_json, resolve_base

    with pytest.raises(PipelineError, match=r"^report: '--all' is not a git revision$"):
        resolve_base("--all", tmp_path)
    with pytest.raises(PipelineError, match=r"^dvc params diff failed: ERROR: .*") as caught:
        dvc_json(["params", "diff", "HEAD"], tmp_path)  # not a DVC repository
    assert "\n" not in str(caught.value)


def test_the_base_card_is_none_without_a_lock_or_when_no_cache_has_it(tmp_path):
    import subprocess

    from music_genre.experiments.report.sources import _card_at

    def git(*args):
        subprocess.run(
            ["git", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            env={
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@example.invalid",
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@example.invalid",
                "PATH": "/usr/bin:/bin",
            },
        )

    git("init", "-q", "-b", "main")
    (tmp_path / "README.md").write_text("x\n")
    git("add", "-A")
    git("commit", "-qm", "no lock")
    assert _card_at("HEAD", tmp_path) is None  # no dvc.lock at all
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  train:\n    cmd: x\n    outs:\n    - path: models/model.json\n"
        "      md5: 0123456789abcdef0123456789abcdef\n      size: 2\n"
    )
    git("add", "-A")
    git("commit", "-qm", "a lock naming a card no cache has")
    assert _card_at("HEAD", tmp_path) is None


def test_a_plot_whose_base_data_is_not_in_the_local_cache_is_not_called_new(tmp_path):
    roc, pr, confusion, curves = PLOTS
    plots = {f"dvc.yaml::{roc}": _vega(["workspace"]), confusion: _vega(["workspace"])}
    notes = render_plots(
        plots, "main", tmp_path, lambda spec: PNG, {confusion, curves}, target=TARGET
    )
    by_caption = {caption: note for caption, _, note in notes}
    missing = "`main`'s data is not in the local cache: `dvc pull` or run it"
    assert by_caption[PLOTS[confusion][1]] == missing
    assert by_caption[PLOTS[curves][1]] == missing
    assert by_caption[PLOTS[roc][1]] == "new: `main` has no data for it"
    assert by_caption[PLOTS[pr][1]] == "not in either revision"
