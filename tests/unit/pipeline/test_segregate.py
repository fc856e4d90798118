"""pipeline.segregate: the stage's file-level step (the split itself is tested in data/)."""

import json

import pandas as pd
import pytest

from music_genre.core.errors import DataValidationError, ParamsError
from music_genre.data.contract import load_contract
from music_genre.data.synthetic import generate
from music_genre.data.tracks import track_ids
from music_genre.pipeline.segregate import segregate_file
from support.data import PENGUINS_CONTRACT, songs_contract

SONGS = songs_contract()


@pytest.fixture
def table(tmp_path, synthetic_prepared):
    path = tmp_path / "prepared.parquet"
    synthetic_prepared.to_parquet(path, index=False)
    return path


def _segregate(table, check, out, contract=SONGS, group_by="track"):
    return segregate_file(
        str(table),
        str(check),
        str(out / "train.parquet"),
        str(out / "test.parquet"),
        str(out / "split.json"),
        test_size=0.3,
        seed=42,
        group_by=group_by,
        contract=contract,
    )


def _report(tmp_path, passed):
    path = tmp_path / f"check_{passed}.json"
    path.write_text(json.dumps({"passed": passed}))
    return path


def test_writes_a_grouped_split_and_what_it_achieved(tmp_path, table, synthetic_prepared):
    out = tmp_path / "out"
    achieved = _segregate(table, _report(tmp_path, True), out)
    train, test = pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "test.parquet")
    assert len(train) + len(test) == len(synthetic_prepared)
    assert list(train.columns) == list(synthetic_prepared.columns)
    assert not set(track_ids(train, SONGS)) & set(track_ids(test, SONGS))
    assert json.loads((out / "split.json").read_text()) == achieved
    assert achieved["test_rows_whose_track_is_also_in_rest"] == 0
    assert achieved["rows"] == {"rest": len(train), "test": len(test)}


@pytest.mark.parametrize("report", [{"passed": False}, ["passed"], {}])
def test_refuses_a_table_whose_checks_did_not_pass_and_writes_nothing(tmp_path, table, report):
    check = tmp_path / "check.json"
    check.write_text(json.dumps(report))
    out = tmp_path / "out"
    with pytest.raises(DataValidationError, match=r"check.json: the data checks did not pass"):
        _segregate(table, check, out)
    assert not out.exists()


def test_a_group_by_the_contract_does_not_declare_is_one_line_naming_params(tmp_path):
    penguins = load_contract(PENGUINS_CONTRACT)
    table = tmp_path / "penguins.parquet"
    generate(200, 0, penguins).to_parquet(table, index=False)
    out = tmp_path / "out"
    with pytest.raises(ParamsError) as error:
        _segregate(table, _report(tmp_path, True), out, penguins, group_by="track")
    assert str(error.value) == (
        "params.yaml: 'segregate.group_by' is 'track', expected one of: 'none' "
        "(the contract declares no groups)"
    )
    assert not out.exists()
    achieved = _segregate(table, _report(tmp_path, True), out, penguins, group_by="none")
    assert set(achieved) == {"group_by", "rows", "test_share", "test_share_per_species"}
