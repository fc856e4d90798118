"""`music-genre report` on a real git + DVC repository: the shared synthetic project's commit
(LightGBM, run by `dvc repro`) as the base, and a second commit that switches to a small random
forest, run by `dvc repro` too. System tier (marker `copies`); the tables it renders are tested in
the default tier (tests/unit/experiments/test_report_tables.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from music_genre.cli.main import main
from music_genre.data.contract import load_contract
from music_genre.experiments.report.gates import Gate
from music_genre.experiments.report.sources import captioned_plots
from music_genre.experiments.report.writer import write_report
from support.project import PROJECT_ROOT, clone_project, run, set_params

TARGET = load_contract(PROJECT_ROOT / "contract.yaml").target
PLOTS = captioned_plots(TARGET)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.copies


@pytest.fixture(scope="module")
def history(synthetic_project, tmp_path_factory) -> tuple[Path, str]:
    """(project, base commit): base = the synthetic project's LightGBM, HEAD = a small random
    forest (one `dvc repro`: the base's outputs come with the clone)."""
    project = clone_project(synthetic_project, tmp_path_factory.mktemp("report") / "project")
    base = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    set_params(
        project,
        train__model="random_forest",
        train__random_forest__n_estimators=20,
        train__random_forest__max_depth=8,
    )
    run(["dvc", "repro"], project)
    run(["git", "commit", "-qam", "a small forest"], project)
    return project, base


@pytest.fixture(scope="module")
def report(history, tmp_path_factory) -> tuple[Path, str]:
    project, base = history
    out = tmp_path_factory.mktemp("out")
    outcome = write_report(base, out, ["roc_auc:-1"], repo=project)
    assert outcome.changed and outcome.violations == []
    return out, outcome.path.read_text()


def _rows(markdown: str, section: str) -> dict[str, list[str]]:
    """The table rows under a heading, by their first cell."""
    part = markdown.split(f"## {section}\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in part.splitlines() if line.startswith("| ") and "---" not in line]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]
    return {row[0]: row[1:] for row in cells}


def _metrics(project: Path, rev: str, name: str) -> dict:
    shown = run(["git", "show", f"{rev}:metrics/{name}/metrics.json"], project).stdout
    return json.loads(shown)


def test_the_params_that_changed_with_old_and_new(report):
    _, markdown = report
    params = _rows(markdown, "Params")
    assert params["`train.model`"] == ["`lightgbm`", "`random_forest`"]
    assert params["`train.random_forest.n_estimators`"][1] == "20"
    assert "`train.lightgbm.num_leaves`" not in params  # unchanged since the base


def test_metrics_old_new_and_delta_come_from_the_two_commits(history, report):
    project, base = history
    _, markdown = report
    metrics = _rows(markdown, "Metrics")
    old, new = _metrics(project, base, "evaluate"), _metrics(project, "HEAD", "evaluate")
    for name in ("roc_auc", "accuracy", "f1_macro", "log_loss"):
        assert metrics[f"test {name}" + (" (ovo)" if name == "roc_auc" else "")] == [
            f"{old[name]:.5f}",
            f"{new[name]:.5f}",
            f"{new[name] - old[name]:+.5f}",
        ]
    # A forest has no boosting rounds: the metric is removed in the second commit.
    rounds = _metrics(project, base, "train")["boosting_rounds"]
    assert metrics["boosting rounds"] == [f"{rounds:,}", "—", "removed"]


def test_per_class_movers_and_the_model_card(report):
    _, markdown = report
    movers = _rows(markdown, "Metrics")  # the F1 table is the last table of that section
    section = markdown.split(f"### Per-{TARGET} F1 (test): largest gains and losses\n", 1)[1]
    deltas = [float(m) for m in re.findall(r"\| ([+-]\d\.\d{5}) \|\n", section.split("##")[0])]
    assert 0 < len(deltas) <= 6
    assert deltas == sorted(d for d in deltas if d > 0)[::-1] + sorted(d for d in deltas if d < 0)
    assert movers
    card = _rows(markdown, "Model card")
    assert card["estimator"] == ["`LGBMClassifier`", "`RandomForestClassifier`"]


def test_every_plot_is_a_png_of_both_revisions(report):
    out, markdown = report
    for file, caption in PLOTS.values():
        data = (out / file).read_bytes()
        assert data.startswith(PNG_SIGNATURE), file
        with Image.open(out / file) as image:
            assert image.size[0] > 200 and image.size[1] > 200
        assert f"![{caption}]({file})" in markdown


def test_no_change_is_one_line_and_draws_nothing(history, tmp_path):
    project, _ = history
    outcome = write_report("HEAD", tmp_path, repo=project, render=_no_render)
    assert not outcome.changed
    lines = outcome.path.read_text().splitlines()
    assert lines[-1] == (
        "No change against `HEAD`: params, metrics, data checks and plots are the same."
    )
    assert not list(tmp_path.glob("*.png"))


def _no_render(spec):
    raise AssertionError("nothing to draw when nothing changed")


def _stub_render(spec):
    return PNG_SIGNATURE


def test_fail_on_fails_after_writing_and_passes_within_the_delta(history, tmp_path, monkeypatch):
    project, base = history
    old, new = _metrics(project, base, "evaluate"), _metrics(project, "HEAD", "evaluate")
    change = new["log_loss"] - old["log_loss"]
    monkeypatch.chdir(project)
    monkeypatch.setattr("music_genre.experiments.report.writer.render_png", _stub_render)
    # The gate's direction follows its sign: allow a little less than the change, then more.
    strict = f"log_loss:{change * 0.5:+.6f}"
    generous = f"log_loss:{change * 2:+.6f}"
    assert main(["report", base, "--out", str(tmp_path / "strict"), "--fail-on", strict]) == 1
    assert "## Merge gate: failed" in (tmp_path / "strict" / "report.md").read_text()
    assert main(["report", base, "--out", str(tmp_path / "ok"), "--fail-on", generous]) == 0
    assert "## Merge gate: passed" in (tmp_path / "ok" / "report.md").read_text()


@pytest.mark.parametrize(
    "case",
    [
        (["no-such-rev"], "report: 'no-such-rev' is not a git revision"),
        (["HEAD", "--fail-on", "roc_auc"], "--fail-on 'roc_auc': expected METRIC:DELTA"),
        (["HEAD", "--fail-on", "roc_auc:lots"], "--fail-on 'roc_auc:lots': expected METRIC:DELTA"),
    ],
)
def test_bad_input_is_one_line(history, tmp_path, monkeypatch, capsys, case):
    arguments, message = case
    project, _ = history
    monkeypatch.chdir(project)
    assert main(["report", *arguments, "--out", str(tmp_path)]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"music-genre report: error: {message}")
    assert not (tmp_path / "report.md").exists()


def test_gates_parse_files_and_directions():
    assert Gate.parse("roc_auc:-0.002") == Gate("evaluate", "roc_auc", -0.002)
    assert Gate.parse("train.log_loss:0.01") == Gate("train", "log_loss", 0.01)
    assert Gate.parse("validation.multi_logloss:0.1").metric == "validation.multi_logloss"
    assert Gate("evaluate", "roc_auc", -0.002).violated_by(-0.003)
    assert not Gate("evaluate", "roc_auc", -0.002).violated_by(-0.001)
    assert Gate("evaluate", "log_loss", 0.01).violated_by(0.02)
    assert not Gate("evaluate", "log_loss", 0.01).violated_by(-0.5)


def test_each_plot_is_drawn_as_dvc_yaml_defines_it(history, tmp_path):
    """Template, title and axes from dvc.yaml's `plots:`, not the file's default template."""
    project, base = history
    titles = {}
    # dvc.yaml names the per-class plots after the contract (its `vars`), as DVC resolves them.
    contract = yaml.safe_load((project / "contract.yaml").read_text())
    text = (project / "dvc.yaml").read_text()
    for key in ("name", "target"):
        text = text.replace(f"${{{key}}}", contract[key])
    for entry in yaml.safe_load(text)["plots"]:
        (plot_id, spec), *_ = entry.items() if isinstance(entry, dict) else [(entry, {})]
        titles[plot_id] = (spec or {}).get("title")
    drawn = []

    def capture(spec):
        drawn.append(spec["title"]["text"])
        return PNG_SIGNATURE

    write_report(base, tmp_path, repo=project, render=capture)
    assert drawn == [titles[plot_id] for plot_id in PLOTS]


def test_a_base_whose_outputs_this_clone_never_fetched_says_so(history, tmp_path):
    """A fresh clone has the base's dvc.lock but not its cached outputs: not 'new'."""
    from dvc.repo import Repo

    project, base = history
    clone = clone_project(project, tmp_path / "clone")
    confusion = PLOTS_BY_FILE["confusion_matrix.png"]
    lock = yaml.safe_load(run(["git", "show", f"{base}:dvc.lock"], clone).stdout)
    md5 = next(
        out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] == confusion
    )
    with Repo(str(clone)) as repo:
        Path(repo.cache.local.oid_to_path(md5)).unlink()
    outcome = write_report(base, tmp_path / "out", repo=clone, render=_stub_render)
    text = outcome.path.read_text()
    assert f"`{base}`'s data is not in the local cache: `dvc pull` or run it" in text
    assert "has no data for it" not in text


PLOTS_BY_FILE = {file: plot_id for plot_id, (file, _) in PLOTS.items()}
