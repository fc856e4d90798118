import json

import numpy as np
import pandas as pd
import pytest

from music_genre.core.errors import DataValidationError
from music_genre.data.contract import ContractError, load_contract
from music_genre.data.profile import build_profile
from music_genre.data.synthetic import generate
from music_genre.pipeline.check_data import check_file, check_table, format_failures, sidak_alpha
from music_genre.pipeline.preprocess import preprocess
from support.data import PENGUINS_CONTRACT, songs_contract

SONGS = songs_contract()
PENGUINS = load_contract(PENGUINS_CONTRACT)


@pytest.fixture
def profile(synthetic_prepared):
    return build_profile(synthetic_prepared, 1000, SONGS)


def failures_by_column(report):
    return {(item["column"], item["check"]): item for item in report["failures"]}


def test_clean_table_passes_every_check(synthetic_prepared, profile):
    report = check_table(synthetic_prepared, profile, 0.05, contract=SONGS)
    assert report["passed"], report["failures"]
    assert report["checks"] == {"total": 65, "failed": 0, "passed": 65}
    assert set(report["tracks"]) >= {"tracks", "conflicting_tracks", "max_conflicting_share"}


def test_every_failure_is_reported_at_once(synthetic_prepared, profile):
    bad = synthetic_prepared.copy()
    bad.loc[0:2, "tempo"] = 400.0
    bad.loc[3, "genre"] = "Polka"
    bad.loc[4, "genre"] = np.nan
    bad = pd.concat([bad, bad.iloc[[10, 11]]], ignore_index=True)
    bad = bad.drop(columns=["valence"])
    report = check_table(bad, profile, 0.05, contract=SONGS)
    found = failures_by_column(report)
    assert not report["passed"]
    assert found[("tempo", "in_range(50.0, 250.0)")]["failed_rows"] == 3
    assert found[("tempo", "in_range(50.0, 250.0)")]["examples"] == ["400.0"]
    assert found[("genre", "isin(known genre values)")]["examples"] == ["Polka"]
    assert ("genre", "not_nullable") in found
    assert found[("(all columns)", "no duplicate rows")]["failed_rows"] == 2
    assert ("valence", "required column present") in found
    assert report["checks"]["failed"] == len(report["failures"]) == 5


def test_wrong_dtype_is_reported(synthetic_prepared, profile):
    bad = synthetic_prepared.assign(tempo=synthetic_prepared["tempo"].astype(str))
    found = failures_by_column(check_table(bad, profile, 0.05, contract=SONGS))
    assert ("tempo", "dtype float64") in found


def test_drift_is_detected(synthetic_prepared, profile):
    shifted = synthetic_prepared.assign(loudness=synthetic_prepared["loudness"] - 4)
    report = check_table(shifted, profile, 0.05, contract=SONGS)
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
        check_file(
            str(table), str(tmp_path / "profile.json"), str(report_path), 0.05, contract=SONGS
        )
    report = json.loads(report_path.read_text())
    assert report["passed"] is False
    assert "energy" in error.value.summary and "failed rows" in error.value.summary
    assert format_failures(report).splitlines()[0].startswith("column")


def test_label_conflicts_above_the_share_fail_the_table(synthetic_prepared, profile):
    copies = synthetic_prepared.head(200).assign(genre="Pop")
    table = pd.concat([synthetic_prepared, copies], ignore_index=True)
    report = check_table(table, profile, 0.05, 0.01, contract=SONGS)
    (conflict,) = [item for item in report["failures"] if item["check"].startswith("label")]
    assert conflict["column"] == "genre"
    assert conflict["check"].startswith("label conflicts: ")
    assert conflict["check"].endswith("of rows are tracks with more than one genre > 1.0%")
    assert conflict["examples"] == [f"{report['tracks']['conflicting_tracks']} tracks"]


def test_a_declared_class_no_row_carries_is_one_line_before_any_check(
    tmp_path, synthetic_prepared, profile
):
    table = tmp_path / "songs.parquet"
    synthetic_prepared[synthetic_prepared["genre"] != "Pop"].to_parquet(table)
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    report_path = tmp_path / "report.json"
    with pytest.raises(ContractError) as error:
        check_file(
            str(table), str(tmp_path / "profile.json"), str(report_path), 0.05, contract=SONGS
        )
    assert str(error.value) == (
        f"{table}: column 'genre': class 'Pop' is declared in the contract but no row has it "
        "(1 of 15 unseen)"
    )
    assert not report_path.exists()


def test_a_contract_without_groups_or_text_checks_what_it_declares():
    table = preprocess(generate(600, 0, PENGUINS), PENGUINS)
    profile = build_profile(table, 200, PENGUINS)
    report = check_table(table, profile, 0.05, contract=PENGUINS)
    assert report["passed"], report["failures"]
    assert "tracks" not in report
    # 8 columns: 8 dtypes, 3 not-null (5 are nullable), 5 ranges, 3 sets of values, unique
    # rows; 5 drift tests (the numeric-dtype columns), the row count; no label conflicts.
    assert [item["column"] for item in report["drift"]["columns"]] == [
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "year",
    ]
    assert report["checks"]["total"] == 8 + 3 + 5 + 3 + 1 + 5 + 1
    table.loc[0, "island"] = "Atlantis"
    found = failures_by_column(check_table(table, profile, 0.05, contract=PENGUINS))
    assert found[("island", "isin(known island values)")]["examples"] == ["Atlantis"]
