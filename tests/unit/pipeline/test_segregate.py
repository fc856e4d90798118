"""pipeline.segregate: the stage's file-level step (the split itself is tested in data/)."""

import json

import pandas as pd
import pytest

from music_genre.core.errors import DataValidationError
from music_genre.data.tracks import track_ids
from music_genre.pipeline.segregate import segregate_file


@pytest.fixture
def table(tmp_path, synthetic_prepared):
    path = tmp_path / "prepared.parquet"
    synthetic_prepared.to_parquet(path, index=False)
    return path


def _segregate(table, check, out):
    return segregate_file(
        str(table),
        str(check),
        str(out / "train.parquet"),
        str(out / "test.parquet"),
        str(out / "split.json"),
        test_size=0.3,
        seed=42,
        group_by="track",
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
    assert not set(track_ids(train)) & set(track_ids(test))
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
