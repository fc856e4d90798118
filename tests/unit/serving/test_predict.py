import subprocess
import sys

import pandas as pd
import pytest

from music_genre.cli.main import main
from music_genre.serving.predict import Predictor
from support.data import SONGS_CONTRACT, songs_contract


def write(frame: pd.DataFrame, path):
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)


def predict(model, source, target, *options: str) -> int:
    """`music-genre predict` in-process; returns its exit code."""
    return main(
        [
            "predict",
            "--model",
            str(model),
            "--input",
            str(source),
            "--output",
            str(target),
            *options,
        ]
    )


@pytest.mark.parametrize("input_suffix", [".parquet", ".csv", ".jsonl"])
@pytest.mark.parametrize("output_suffix", [".parquet", ".csv"])
def test_predictions_equal_the_model_in_input_order(
    tmp_path, small_model, songs, input_suffix, output_suffix
):
    source = tmp_path / f"songs{input_suffix}"
    write(songs, source)
    target = tmp_path / f"predictions{output_suffix}"
    options = ("--probabilities", "--batch-rows", "64")
    assert predict(small_model, source, target, *options) == 0
    result = pd.read_parquet(target) if output_suffix == ".parquet" else pd.read_csv(target)
    predictor = Predictor.load(small_model)
    proba = predictor.predict_proba(songs)
    # The songs' names of today, from the contract the model carries.
    assert songs_contract().prediction_column == "predicted_genre"
    assert result["predicted_genre"].tolist() == [
        predictor.classes[int(i)] for i in proba.argmax(axis=1)
    ]
    probabilities = result[[f"probability_{g}" for g in predictor.classes]].to_numpy()
    assert probabilities == pytest.approx(proba, abs=1e-12)


def test_missing_column_is_one_line_and_leaves_no_output(tmp_path, small_model, songs, capsys):
    source = tmp_path / "songs.parquet"
    write(songs.drop(columns=["tempo"]), source)
    target = tmp_path / "predictions.parquet"
    code = predict(small_model, source, target)
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"music-genre predict: error: {source}: missing required column(s) tempo"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["songs.parquet"]


def test_unreadable_input(tmp_path, small_model, capsys):
    source = tmp_path / "songs.parquet"
    source.write_bytes(b"PAR1 this is not parquet")
    code = predict(small_model, source, tmp_path / "p.csv")
    assert code == 1
    assert "not a readable parquet table" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_strings_in_a_numeric_column(tmp_path, small_model, songs, capsys):
    source = tmp_path / "songs.csv"
    write(songs.assign(tempo="fast"), source)
    assert predict(small_model, source, tmp_path / "p.csv") == 1
    assert "column 'tempo' must hold numbers" in capsys.readouterr().err


def test_console_script_is_installed(small_model):
    result = subprocess.run(
        [sys.executable, "-m", "music_genre.cli", "predict", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--probabilities" in result.stdout


def test_the_model_carries_its_contract_and_needs_no_project(small_model, songs, monkeypatch):
    """The card's contract is the one the API and the predictions speak, wherever the model is
    loaded; a card from before contracts gets the project's (card_contract)."""
    from music_genre.data.contract import CONTRACT_ENV, ContractError
    from music_genre.serving.predict import card_contract

    monkeypatch.chdir(small_model.parent)  # no contract.yaml here
    monkeypatch.setenv(CONTRACT_ENV, str(small_model.parent / "nowhere.yaml"))
    predictor = Predictor.load(small_model)
    assert predictor.contract == songs_contract()
    assert predictor.compiled is not None
    assert predictor.predict_proba(songs.head(5)).shape == (5, len(predictor.classes))
    old_card = {k: v for k, v in predictor.card.items() if k != "contract"}
    with pytest.raises(ContractError, match=r"nowhere\.yaml: no data contract here"):
        card_contract(old_card)
    monkeypatch.delenv(CONTRACT_ENV)
    monkeypatch.chdir(SONGS_CONTRACT.parent)
    assert card_contract(old_card) == songs_contract()
    broken = {**predictor.card, "contract": {"name": "songs"}}
    with pytest.raises(ContractError, match=r"^model card: contract: "):
        card_contract(broken)
