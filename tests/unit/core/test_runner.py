from music_genre.core.errors import DataFileError, DataValidationError
from music_genre.core.runner import run_stage


def test_pipeline_error_is_one_line_and_exit_1(capsys):
    def main():
        raise DataFileError("data/x.parquet: file not found")

    assert run_stage("preprocess", main) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["preprocess: error: data/x.parquet: file not found"]


def test_validation_error_prints_its_table_first(capsys):
    def main():
        raise DataValidationError("3 of 60 data checks failed", summary="column  check\ntempo  x")

    assert run_stage("check_data", main) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["column  check", "tempo  x", "check_data: error: 3 of 60 data checks failed"]


def test_unexpected_error_is_one_line_unless_debug(capsys, monkeypatch):
    def main():
        raise KeyError("boom")

    assert run_stage("train", main) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected KeyError" in err
    monkeypatch.setenv("MUSIC_GENRE_LOG_LEVEL", "DEBUG")
    assert run_stage("train", main) == 2
    assert "Traceback" in capsys.readouterr().err
