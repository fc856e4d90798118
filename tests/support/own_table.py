"""Retargeting a copy of the template to another table, and what every part must then say.

Shared by the default tier (small generated tables from contracts of their own) and the system
tier (the Palmer penguins of examples/penguins through real `dvc repro`, `serve` and fuzzing).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from music_genre.core.params import set_dotted
from music_genre.data.contract import Contract, load_contract
from support.project import PROJECT_ROOT, run

EXAMPLES = PROJECT_ROOT / "examples"
STAGES = ("get_data", "preprocess", "check_data", "segregate", "train", "evaluate", "eda")
# What a user edits to retarget the template: the goal is these two and nothing under src/.
EDITED_FILES = ("contract.yaml", "params.yaml")


def retarget(project: Path, contract_text: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Swap the project's contract for `contract_text` and set the dotted params `overrides`,
    then commit; returns what changed against the template: files and lines (git's numstat)."""
    (project / "contract.yaml").write_text(contract_text, encoding="utf-8")
    edit_params(project, overrides)
    numstat = run(["git", "diff", "--numstat"], project).stdout.split("\n")
    changed = {}
    for line in filter(None, numstat):
        added, deleted, name = line.split("\t")
        changed[name] = {"added": int(added), "deleted": int(deleted)}
    run(["git", "commit", "-qam", "retarget the template"], project)
    return {
        "files": sorted(changed),
        "lines": sum(entry["added"] + entry["deleted"] for entry in changed.values()),
        "per_file": changed,
    }


def edit_params(project: Path, overrides: dict[str, Any]) -> None:
    """Set dotted keys in params.yaml as a user would, in place: its comments and layout kept
    (ruamel's round trip, DVC's own YAML library), so the diff is the edit alone."""
    from ruamel.yaml import YAML

    parser = YAML()
    parser.preserve_quotes = True
    parser.width = 100
    # ruamel writes None as an empty value; a person keeps params.yaml's `null`.
    parser.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    path = project / "params.yaml"
    params = parser.load(path.read_text())
    for dotted, value in overrides.items():
        set_dotted(params, dotted, value)
    with path.open("w") as stream:
        parser.dump(params, stream)


def example_overrides(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name / "params.yaml").read_text())


def music_genre(project: Path, *args: str) -> str:
    """`music-genre ARGS` in the project (this interpreter), its output."""
    return run([sys.executable, "-m", "music_genre.cli", *args], project).stdout


def repro(project: Path) -> str:
    """What a user runs: the data stages, the drift reference from the prepared table, then
    the whole pipeline; returns dvc's output."""
    run(["dvc", "repro", "preprocess"], project)
    music_genre(project, "reference-profile")
    return run(["dvc", "repro"], project).stdout


def ran_stages(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def evaluate_metrics(project: Path) -> dict[str, float]:
    return json.loads((project / "metrics" / "evaluate" / "metrics.json").read_text())


def check_outputs(project: Path, contract: Contract) -> None:
    """Every stage's outputs speak the table: classes, target-named files, the card's contract."""
    card = json.loads((project / "models" / "model.json").read_text())
    assert card["classes"] == sorted(contract.classes)
    assert Contract.model_validate(card["contract"]) == contract
    assert card["input_columns"] == list(contract.model_input_columns)
    per_class = json.loads(
        (project / "plots" / "evaluate" / "custom" / f"per_{contract.target}.json").read_text()
    )
    assert sorted(row[contract.target] for row in per_class) == sorted(contract.classes)
    counts = json.loads(
        (project / "plots" / "eda" / "data" / f"{contract.target}_counts.json").read_text()
    )
    assert {row[contract.target] for row in counts} == set(contract.classes)
    report = (project / "plots" / "eda" / "report.html").read_text()
    assert contract.target in report and contract.name in report
    check = json.loads((project / "metrics" / "check_data.json").read_text())
    assert check["checks"]["failed"] == 0
    shown = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
    assert f"plots/evaluate/custom/per_{contract.target}.json" in shown["data"]
    roc = shown["data"]["plots/evaluate/custom/roc.json"][0]["content"]
    assert roc["encoding"]["color"]["field"] == contract.target


def request_rows(frame: pd.DataFrame, contract: Contract, count: int) -> list[dict[str, Any]]:
    """`count` rows as a client sends them: the input columns, NaN as null."""
    records = frame[list(contract.input_columns)].head(count).to_dict("records")
    return [
        {
            key: (None if isinstance(value, float) and math.isnan(value) else value)
            for key, value in record.items()
        }
        for record in records
    ]


def check_api(client: Any, contract: Contract, rows: list[dict[str, Any]]) -> None:
    """The API of a model trained on `contract`, through `client` (TestClient or httpx.Client
    with a base URL): every endpoint speaks the table's names."""
    predicted = client.post("/predict", json={contract.name: rows})
    assert predicted.status_code == 200, predicted.text
    answers = predicted.json()["predictions"]
    assert len(answers) == len(rows)
    assert {answer[contract.target] for answer in answers} <= set(contract.classes)
    assert all(set(answer["probabilities"]) == set(contract.classes) for answer in answers), (
        answers[0]
    )
    columns = list(rows[0])
    split = {"dataframe_split": {"columns": columns, "data": [list(row.values()) for row in rows]}}
    invoked = client.post("/invocations", json=split)
    assert invoked.status_code == 200, invoked.text
    assert invoked.json()["predictions"] == [answer[contract.target] for answer in answers]
    explained = client.post("/explain", json={contract.name: rows[:3]})
    assert explained.status_code == 200, explained.text
    first = explained.json()["explanations"][0]
    assert set(first["contributions"]) == set(contract.classes)
    # The columns the model reads: its text columns only as the composed text feature, since
    # these projects keep params.yaml's tfidf.statistics (false).
    read = [c for c in contract.model_input_columns if c not in contract.text_columns]
    assert list(next(iter(first["contributions"].values()))) == read
    assert ("top_terms" in first) == (contract.text is not None)
    drift = client.get("/drift")
    assert drift.status_code == 200, drift.text
    assert contract.prediction_column in drift.json()
    metrics = client.get("/metrics").text
    assert f'{contract.target}="' in metrics
    bad = dict(rows[0])
    bad.pop(contract.required_input_columns[0])
    refused = client.post("/predict", json={contract.name: [bad]})
    assert refused.status_code == 422, refused.text
    assert contract.required_input_columns[0] in refused.json()["error"]


def check_predict_file(project: Path, contract: Contract, table: Path) -> pd.DataFrame:
    """`music-genre predict` on a table of the project: the prediction and probability columns."""
    output = project / "predictions.csv"
    music_genre(
        project,
        "predict",
        "--input",
        str(table),
        "--output",
        str(output),
        "--probabilities",
        "--explain",
    )
    frame = pd.read_csv(output)
    assert set(frame[contract.prediction_column]) <= set(contract.classes)
    for label in contract.classes:
        assert contract.probability_column(label) in frame.columns
    return frame


def check_report(project: Path, contract: Contract) -> str:
    """A changed knob, re-run, and `music-genre report` against the commit before it."""
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "pipeline results"], project)
    edit_params(project, {"train.lightgbm.num_leaves": 7})
    assert ran_stages(run(["dvc", "repro"], project).stdout) == ["train", "evaluate"]
    music_genre(project, "report", "HEAD", "--out", "report")
    text = (project / "report" / "report.md").read_text()
    assert f"Per-{contract.target} F1" in text
    return text


def copy_example(project: Path, name: str) -> Contract:
    """The example's contract over the project's (the file a user copies)."""
    shutil.copyfile(EXAMPLES / name / "contract.yaml", project / "contract.yaml")
    return load_contract(project / "contract.yaml")
