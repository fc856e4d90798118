"""pipeline.evaluate: the stage's step, scoring the session's small model on a test table."""

import json

import pytest

from music_genre.core import paths
from music_genre.data.contract import ContractError, load_contract
from music_genre.data.synthetic import generate
from music_genre.modeling.store import load_model
from music_genre.pipeline.evaluate import CURVES_TEMPLATE, curves_template, evaluate
from music_genre.pipeline.preprocess import preprocess
from support.models import small_model_params
from support.project import PROJECT_ROOT

SONGS = load_contract(PROJECT_ROOT / "contract.yaml")
PENGUINS = load_contract(PROJECT_ROOT / "examples" / "penguins" / "contract.yaml")


@pytest.fixture(scope="module")
def evaluated(small_model, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("evaluate")
    test_path = workdir / "test.parquet"
    preprocess(generate(1500, seed=23, contract=SONGS), SONGS).to_parquet(test_path, index=False)
    scores = evaluate(
        str(small_model),
        str(test_path),
        str(workdir / "metrics"),
        str(workdir / "plots"),
        seed=0,
        n_threads=1,
    )
    return workdir, scores


def test_scores_are_written_as_dvc_metrics(evaluated):
    workdir, scores = evaluated
    written = json.loads((workdir / "metrics" / "metrics.json").read_text())
    assert written == pytest.approx(scores)
    assert set(scores) >= {"roc_auc", "accuracy", "f1_macro", "log_loss"}
    assert 0.5 < scores["roc_auc"] <= 1


def test_per_class_curves_scores_and_importances(evaluated, small_model):
    workdir, _ = evaluated
    _, card = load_model(small_model)
    target = SONGS.target
    custom = workdir / "plots" / "custom"
    roc = json.loads((custom / "roc.json").read_text())
    assert {point[target] for point in roc} == set(card["classes"])
    assert all(0 <= point["fpr"] <= 1 and 0 <= point["tpr"] <= 1 for point in roc)
    # The songs' file name, as dvc.yaml's plots and the server know it, and the curves' plot
    # template written beside them: one line per class, coloured by the target's field.
    per_class_file = paths.per_class_plot(target)
    assert per_class_file == "plots/evaluate/custom/per_genre.json"
    template = json.loads((custom / CURVES_TEMPLATE).read_text())
    assert template == curves_template(target)
    assert template["encoding"]["color"]["field"] == target
    assert template["data"]["values"] == "<DVC_METRIC_DATA>"
    per_class = json.loads((custom / per_class_file.rsplit("/", 1)[1]).read_text())
    assert sorted(row[target] for row in per_class) == sorted(card["classes"])
    importances = json.loads((custom / "feature_importance.json").read_text())
    shares = [row["importance"] for row in importances]
    assert sum(shares) == pytest.approx(1.0)
    for image in ("confusion_matrix.png", "feature_importance.png"):
        assert (workdir / "plots" / "images" / image).read_bytes()[:4] == b"\x89PNG"


def test_the_same_model_and_table_give_the_same_metrics_file(evaluated, small_model, tmp_path):
    workdir, _ = evaluated
    evaluate(
        str(small_model),
        str(workdir / "test.parquet"),
        str(tmp_path / "metrics"),
        str(tmp_path / "plots"),
        seed=0,
        n_threads=2,
        contract=SONGS,
    )
    first = (workdir / "metrics" / "metrics.json").read_bytes()
    assert (tmp_path / "metrics" / "metrics.json").read_bytes() == first


def test_a_model_of_another_contract_is_refused_in_one_line(evaluated, small_model, tmp_path):
    workdir, _ = evaluated
    with pytest.raises(ContractError, match=r"trained under another contract than contract\.yaml"):
        evaluate(
            str(small_model),
            str(workdir / "test.parquet"),
            str(tmp_path / "metrics"),
            str(tmp_path / "plots"),
            seed=0,
            contract=PENGUINS,
        )


def test_a_model_of_three_classes_without_text_or_groups(tmp_path):
    """Rows and file named after the contract's target; no text block, no groups."""
    from music_genre.pipeline.train import train

    params = small_model_params()
    params = params.model_copy(
        update={"segregate": params.segregate.model_copy(update={"group_by": "none"})}
    )
    for name, rows, seed in (("train", 900, 1), ("test", 300, 2)):
        table = preprocess(generate(rows, seed, PENGUINS), PENGUINS)
        table.to_parquet(tmp_path / f"{name}.parquet", index=False)
    model = str(tmp_path / "model.joblib")
    train_path, workdir = str(tmp_path / "train.parquet"), str(tmp_path / "train")
    train(params, train_path, model, workdir, workdir, contract=PENGUINS)
    scores = evaluate(
        model,
        str(tmp_path / "test.parquet"),
        str(tmp_path / "metrics"),
        str(tmp_path / "plots"),
        seed=0,
        contract=PENGUINS,
    )
    assert scores["roc_auc"] > 0.6
    custom = tmp_path / "plots" / "custom"
    per_class = json.loads((custom / "per_species.json").read_text())
    assert sorted(row["species"] for row in per_class) == sorted(PENGUINS.classes)
    roc = json.loads((custom / "roc.json").read_text())
    assert {point["species"] for point in roc} == set(PENGUINS.classes)
    importances = json.loads((custom / "feature_importance.json").read_text())
    assert {row["feature"] for row in importances} == set(PENGUINS.model_input_columns)


def test_the_contract_comes_from_the_card_and_a_broken_one_is_one_line():
    from music_genre.pipeline.evaluate import model_contract

    assert model_contract({"contract": PENGUINS.card()}, "m.joblib", None) == PENGUINS
    assert model_contract({}, "m.joblib", SONGS) == SONGS  # a card from before contracts
    with pytest.raises(ContractError, match=r"^m\.json: the model card records no contract$"):
        model_contract({}, "m.joblib", None)
    with pytest.raises(ContractError, match=r"^m\.json: contract: row: Field required"):
        model_contract({"contract": {"name": "x", "columns": {}}}, "m.joblib", None)
