"""Catalogue of bad inputs and faults: each gives one clear line, a non-zero exit, no lost data.

Each case runs the real stage script (or command) in a scratch workspace and checks that the last
line on stderr names the file, column or key and what was expected, with no traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from music_genre.core.fileio import sha256_file
from music_genre.core.params import set_dotted
from support.data import prepared_songs, synthetic_songs
from support.project import PROJECT_ROOT


class Workspace:
    """A scratch directory with params.yaml and the reference profile, where stages run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copy(PROJECT_ROOT / "params.yaml", root / "params.yaml")
        shutil.copy(PROJECT_ROOT / "contract.yaml", root / "contract.yaml")
        (root / "data").mkdir()
        shutil.copy(PROJECT_ROOT / "data" / "reference_profile.json", root / "data")

    def path(self, name: str) -> Path:
        return self.root / name

    def set_param(self, dotted: str, value: object) -> None:
        params = yaml.safe_load(self.path("params.yaml").read_text())
        set_dotted(params, dotted, value)
        self.path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def stage(self, stage: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "stages" / f"{stage}.py"), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def command(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "music_genre.cli", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path)


def error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def prepared(ws) -> Path:
    """A good preprocessed table in the workspace."""
    path = ws.path("data/prepared.parquet")
    prepared_songs(3000, seed=2).to_parquet(path, index=False)
    return path


def write_prepared(ws, frame: pd.DataFrame) -> Path:
    path = ws.path("data/prepared.parquet")
    frame.to_parquet(path, index=False)
    return path


def check(ws, table: Path) -> subprocess.CompletedProcess:
    relative = table.relative_to(ws.root)
    return ws.stage("check_data", str(relative), "data/reference_profile.json", "report.json")


# --- get_data -------------------------------------------------------------------------------


def test_01_missing_source_file(ws):
    ws.set_param("data.source", "nowhere/songs.parquet")
    ws.set_param("data.sha256", None)
    line = error_line(ws.stage("get_data", "data/raw.parquet"))
    assert line == "get_data: error: data.source 'nowhere/songs.parquet': file not found"
    assert not ws.path("data/raw.parquet").exists()


def test_02_sha256_mismatch_keeps_the_previous_raw_table(ws, tmp_path):
    source = tmp_path / "songs.parquet"
    synthetic_songs(200, seed=1).to_parquet(source, index=False)
    ws.path("data/raw.parquet").write_bytes(b"the previous good table")
    ws.set_param("data.source", str(source))
    ws.set_param("data.sha256", "ab" * 32)
    line = error_line(ws.stage("get_data", "data/raw.parquet"))
    assert "sha256 mismatch (expected data.sha256=abab" in line
    assert ws.path("data/raw.parquet").read_bytes() == b"the previous good table"


def test_03_http_404(ws, http_url):
    ws.set_param("data.source", http_url("missing.parquet"))
    ws.set_param("data.sha256", None)
    line = error_line(ws.stage("get_data", "data/raw.parquet"))
    assert line.endswith("download failed with HTTP 404 File not found")


def test_04_connection_refused(ws, closed_port):
    ws.set_param("data.source", f"http://127.0.0.1:{closed_port}/songs.parquet")
    ws.set_param("data.sha256", None)
    line = error_line(ws.stage("get_data", "data/raw.parquet"))
    assert "Connection refused" in line and "MUSIC_GENRE_DATA_MIRROR" in line


# --- params.yaml ----------------------------------------------------------------------------


def test_05_typo_in_params_key(ws):
    ws.set_param("segregate.test_sise", 0.3)
    line = error_line(ws.stage("get_data", "data/raw.parquet"))
    assert line.startswith("get_data: error: params.yaml: unknown key 'segregate.test_sise'")


def test_06_wrong_type_in_params(ws):
    ws.set_param("check_data.ks_alpha", "five percent")
    line = error_line(ws.stage("get_data", "data/raw.parquet"))
    assert line == (
        "get_data: error: params.yaml: 'check_data.ks_alpha' must be a number, "
        "got str 'five percent'"
    )


def test_07_unknown_estimator_argument(ws, prepared):
    ws.set_param("train.random_forest.n_trees", 10)
    line = error_line(ws.stage("train", str(prepared), "m/model.joblib", "mt", "pt"))
    assert "'train.random_forest.n_trees' is not a RandomForestClassifier parameter" in line
    assert not ws.path("m").exists()


# --- reading tables -------------------------------------------------------------------------


def test_08_empty_file(ws):
    ws.path("data/raw.parquet").write_bytes(b"")
    line = error_line(ws.stage("preprocess", "data/raw.parquet", "data/out.parquet"))
    assert line == "preprocess: error: data/raw.parquet: file is empty (expected a parquet table)"
    assert not ws.path("data/out.parquet").exists()


def test_09_not_a_parquet_file(ws):
    ws.path("data/raw.parquet").write_text("danceability,energy\n0.5,0.5\n")
    line = error_line(ws.stage("preprocess", "data/raw.parquet", "data/out.parquet"))
    assert line.startswith("preprocess: error: data/raw.parquet: not a readable parquet table")


def test_10_truncated_parquet(ws):
    synthetic_songs(500, seed=0).to_parquet(ws.path("data/full.parquet"), index=False)
    data = ws.path("data/full.parquet").read_bytes()
    ws.path("data/raw.parquet").write_bytes(data[: len(data) // 2])
    line = error_line(ws.stage("preprocess", "data/raw.parquet", "data/out.parquet"))
    assert line.startswith("preprocess: error: data/raw.parquet: not a readable parquet table")


def test_11_missing_text_column_in_raw_table(ws):
    synthetic_songs(300, seed=0).drop(columns=["title"]).to_parquet(ws.path("data/raw.parquet"))
    line = error_line(ws.stage("preprocess", "data/raw.parquet", "data/out.parquet"))
    assert line == "preprocess: error: data/raw.parquet: missing required column(s) title"


# --- check_data -----------------------------------------------------------------------------


def failed_checks(ws) -> set[tuple[str, str]]:
    report = json.loads(ws.path("report.json").read_text())
    assert report["passed"] is False
    return {(item["column"], item["check"]) for item in report["failures"]}


def test_12_required_column_missing(ws, prepared):
    table = write_prepared(ws, pd.read_parquet(prepared).drop(columns=["tempo"]))
    result = check(ws, table)
    assert "data checks failed" in error_line(result)
    assert ("tempo", "required column present") in failed_checks(ws)


def test_13_extra_column_is_allowed_and_ignored(ws, prepared):
    # Policy: extra columns (ids, notes) pass the checks, are carried along, and the model
    # never reads them (it selects its input columns by name).
    table = write_prepared(ws, pd.read_parquet(prepared).assign(song_id=1))
    result = check(ws, table)
    assert result.returncode == 0, result.stderr


def test_14_strings_in_a_numeric_column(ws, prepared):
    frame = pd.read_parquet(prepared)
    table = write_prepared(ws, frame.assign(tempo=frame["tempo"].astype(str)))
    error_line(check(ws, table))
    assert ("tempo", "dtype float64") in failed_checks(ws)


def test_15_out_of_range_values_with_a_failure_table(ws, prepared):
    frame = pd.read_parquet(prepared)
    frame.loc[:4, "danceability"] = 1.7
    result = check(ws, write_prepared(ws, frame))
    line = error_line(result)
    assert line.startswith("check_data: error: data/prepared.parquet: 1 of")
    table = result.stderr.splitlines()
    header = next(i for i, row in enumerate(table) if row.startswith("column"))
    assert table[header + 1].split()[:3] == ["danceability", "in_range(0.0,", "1.0)"]
    assert "5" in table[header + 1] and "1.7" in table[header + 1]


def test_16_missing_target(ws, prepared):
    frame = pd.read_parquet(prepared)
    frame.loc[3, "genre"] = None
    error_line(check(ws, write_prepared(ws, frame)))
    assert ("genre", "not_nullable") in failed_checks(ws)


def test_17_unknown_genre(ws, prepared):
    frame = pd.read_parquet(prepared)
    frame.loc[3, "genre"] = "Polka"
    error_line(check(ws, write_prepared(ws, frame)))
    assert ("genre", "isin(known genre values)") in failed_checks(ws)


def test_18_duplicates_reaching_check_data(ws, prepared):
    frame = pd.read_parquet(prepared)
    error_line(check(ws, write_prepared(ws, pd.concat([frame, frame], ignore_index=True))))
    assert ("(all columns)", "no duplicate rows") in failed_checks(ws)


def test_19_all_rows_duplicated_are_dropped_by_preprocess(ws):
    raw = synthetic_songs(400, seed=0).drop_duplicates()
    pd.concat([raw, raw], ignore_index=True).to_parquet(ws.path("data/raw.parquet"))
    result = ws.stage("preprocess", "data/raw.parquet", "data/out.parquet")
    assert result.returncode == 0
    assert f"{len(raw)} duplicate rows dropped" in result.stderr
    assert len(pd.read_parquet(ws.path("data/out.parquet"))) == len(raw)


def test_20_zero_row_table(ws, prepared):
    table = write_prepared(ws, pd.read_parquet(prepared).head(0))
    error_line(check(ws, table))
    assert ("(all columns)", "at least one row") in failed_checks(ws)


def test_21_drifted_column(ws, prepared):
    frame = pd.read_parquet(prepared)
    table = write_prepared(ws, frame.assign(tempo=frame["tempo"] * 0.7))
    error_line(check(ws, table))
    assert any(column == "tempo" and name.startswith("drift") for column, name in failed_checks(ws))


# --- segregate, train, evaluate ---------------------------------------------------------------


def passing_report(ws) -> str:
    ws.path("report.json").write_text(json.dumps({"passed": True}))
    return "report.json"


def test_22_genre_too_small_to_stratify(ws, prepared):
    frame = pd.read_parquet(prepared)
    pop = frame[frame["genre"] == "Pop"]
    table = write_prepared(ws, pd.concat([frame[frame["genre"] != "Pop"], pop.head(1)]))
    line = error_line(
        ws.stage(
            "segregate", str(table), passing_report(ws), "tr.parquet", "te.parquet", "split.json"
        )
    )
    # Whole tracks are split (segregate.group_by: track), so the unit is a track.
    assert "column 'genre': genre 'Pop' has 1 track(s); a stratified test split needs" in line
    for name in ("tr.parquet", "te.parquet", "split.json"):
        assert not ws.path(name).exists()


def test_23_segregate_refuses_a_failed_check_report(ws, prepared):
    ws.path("report.json").write_text(json.dumps({"passed": False}))
    line = error_line(
        ws.stage("segregate", str(prepared), "report.json", "tr.parquet", "te.parquet", "s.json")
    )
    assert line.startswith("segregate: error: report.json: the data checks did not pass")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_model) -> Path:
    return small_model


def copy_model(trained: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained, directory / "model.joblib")
    shutil.copy(trained.with_suffix(".json"), directory / "model.json")
    return directory / "model.joblib"


def test_24_corrupt_model_file_is_not_unpickled(ws, trained, prepared):
    model = copy_model(trained, ws.path("models"))
    data = model.read_bytes()
    model.write_bytes(data[:1000] + b"\x00" * 64 + data[1064:])
    line = error_line(ws.stage("evaluate", "models/model.joblib", str(prepared), "me", "pe"))
    assert "does not match models/model.json" in line and "refusing to unpickle" in line
    assert not ws.path("me").exists()


def test_25_model_without_its_card(ws, trained, prepared):
    model = copy_model(trained, ws.path("models"))
    model.with_suffix(".json").unlink()
    line = error_line(
        ws.command("predict", "--model", str(model), "--input", str(prepared), "--output", "p.csv")
    )
    assert line.endswith("models/model.json: model card not found (it records the model's hash)")


def test_26_unsupported_prediction_format(ws, trained, prepared):
    line = error_line(
        ws.command(
            "predict", "--model", str(trained), "--input", str(prepared), "--output", "p.xlsx"
        )
    )
    assert line.endswith(
        "p.xlsx: unsupported output format '.xlsx' (expected one of .parquet, .csv)"
    )


def test_27_model_hash_recorded_matches_the_file(trained):
    card = json.loads(trained.with_suffix(".json").read_text())
    assert card["model_sha256"] == sha256_file(trained)
