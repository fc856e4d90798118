import json

import numpy as np
import pandas as pd
import pytest

from music_genre.core.errors import DataValidationError
from music_genre.data.profile import build_profile
from music_genre.pipeline.check_data import check_file, check_table, format_failures, sidak_alpha


@pytest.fixture
def profile(synthetic_prepared):
    return build_profile(synthetic_prepared, 1000)


def failures_by_column(report):
    return {(item["column"], item["check"]): item for item in report["failures"]}


def test_clean_table_passes_every_check(synthetic_prepared, profile):
    report = check_table(synthetic_prepared, profile, 0.05)
    assert report["passed"], report["failures"]
    assert report["checks"]["failed"] == 0
    assert report["checks"]["passed"] == report["checks"]["total"] > 50


def test_every_failure_is_reported_at_once(synthetic_prepared, profile):
    bad = synthetic_prepared.copy()
    bad.loc[0:2, "tempo"] = 400.0
    bad.loc[3, "genre"] = "Polka"
    bad.loc[4, "genre"] = np.nan
    bad = pd.concat([bad, bad.iloc[[10, 11]]], ignore_index=True)
    bad = bad.drop(columns=["valence"])
    report = check_table(bad, profile, 0.05)
    found = failures_by_column(report)
    assert not report["passed"]
    assert found[("tempo", "in_range(50.0, 250.0)")]["failed_rows"] == 3
    assert found[("tempo", "in_range(50.0, 250.0)")]["examples"] == ["400.0"]
    assert found[("genre", "isin(known genres)")]["examples"] == ["Polka"]
    assert ("genre", "not_nullable") in found
    assert found[("(all columns)", "no duplicate rows")]["failed_rows"] == 2
    assert ("valence", "required column present") in found
    assert report["checks"]["failed"] == len(report["failures"]) == 5


def test_wrong_dtype_is_reported(synthetic_prepared, profile):
    bad = synthetic_prepared.assign(tempo=synthetic_prepared["tempo"].astype(str))
    found = failures_by_column(check_table(bad, profile, 0.05))
    assert ("tempo", "dtype float64") in found


def test_drift_is_detected(synthetic_prepared, profile):
    shifted = synthetic_prepared.assign(loudness=synthetic_prepared["loudness"] - 4)
    report = check_table(shifted, profile, 0.05)
    drifted = [item for item in report["drift"]["columns"] if not item["passed"]]
    assert [item["column"] for item in drifted] == ["loudness"]


def test_sidak_alpha():
    assert sidak_alpha(0.05, 1) == pytest.approx(0.05)
    assert sidak_alpha(0.05, 10) == pytest.approx(1 - 0.95**0.1)
    assert 1 - (1 - sidak_alpha(0.05, 13)) ** 13 == pytest.approx(0.05)


def test_check_file_writes_the_report_and_raises_with_a_table(
    tmp_path, synthetic_prepared, profile
):
    table = tmp_path / "songs.parquet"
    synthetic_prepared.assign(energy=synthetic_prepared["energy"] + 2).to_parquet(table)
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    report_path = tmp_path / "report.json"
    with pytest.raises(DataValidationError, match=r"data checks failed") as error:
        check_file(str(table), str(tmp_path / "profile.json"), str(report_path), 0.05)
    report = json.loads(report_path.read_text())
    assert report["passed"] is False
    assert "energy" in error.value.summary and "failed rows" in error.value.summary
    assert format_failures(report).splitlines()[0].startswith("column")
