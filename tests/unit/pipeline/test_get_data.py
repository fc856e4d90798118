from pathlib import Path

import pandas as pd
import pytest

from music_genre.core.errors import DataSourceError
from music_genre.core.fileio import sha256_file
from music_genre.core.params import DataParams
from music_genre.pipeline.get_data import MIRROR_ENV, get_data


@pytest.fixture
def source_file(tmp_path, synthetic_raw, http_url) -> Path:
    """The table to fetch, in the directory that the http_url fixture serves."""
    path = tmp_path / "www" / "songs.parquet"
    synthetic_raw.to_parquet(path, index=False)
    return path


@pytest.fixture(autouse=True)
def no_mirror(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)


def test_local_path_is_copied_and_verified(tmp_path, source_file):
    output = tmp_path / "raw" / "songs.parquet"
    get_data(DataParams(source=str(source_file), sha256=sha256_file(source_file)), output)
    assert output.read_bytes() == source_file.read_bytes()


def test_file_url(tmp_path, source_file):
    output = tmp_path / "songs.parquet"
    get_data(DataParams(source=source_file.as_uri(), sha256=None), output)
    assert sha256_file(output) == sha256_file(source_file)


def test_http_download(tmp_path, source_file, http_url):
    output = tmp_path / "songs.parquet"
    get_data(DataParams(source=http_url("songs.parquet"), sha256=sha256_file(source_file)), output)
    assert output.read_bytes() == source_file.read_bytes()


def test_http_404_is_one_line_and_leaves_nothing(tmp_path, http_url):
    output = tmp_path / "songs.parquet"
    with pytest.raises(DataSourceError, match=r"HTTP 404"):
        get_data(DataParams(source=http_url("missing.parquet"), sha256=None), output)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["www"]


def test_connection_refused(tmp_path, closed_port):
    url = f"http://127.0.0.1:{closed_port}/songs.parquet"
    with pytest.raises(DataSourceError, match=rf"download failed .*{MIRROR_ENV}"):
        get_data(DataParams(source=url, sha256=None), tmp_path / "songs.parquet")


def test_sha_mismatch_keeps_the_previous_output(tmp_path, source_file):
    output = tmp_path / "songs.parquet"
    output.write_bytes(b"previous good bytes")
    with pytest.raises(DataSourceError, match=r"sha256 mismatch .*expected data.sha256=0000"):
        get_data(DataParams(source=str(source_file), sha256="0" * 64), output)
    assert output.read_bytes() == b"previous good bytes"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["songs.parquet", "www"]


def test_missing_local_file(tmp_path):
    with pytest.raises(DataSourceError, match=r"nope.parquet': file not found"):
        get_data(
            DataParams(source=str(tmp_path / "nope.parquet"), sha256=None), tmp_path / "out.parquet"
        )


def test_unsupported_scheme(tmp_path):
    with pytest.raises(DataSourceError, match=r"unsupported scheme 'ftp'"):
        get_data(
            DataParams(source="ftp://example.invalid/x.parquet", sha256=None),
            tmp_path / "out.parquet",
        )


def test_mirror_is_used_before_the_network(tmp_path, source_file, monkeypatch, closed_port):
    # The source URL points at a closed port: only the mirror can satisfy the request.
    decoy = tmp_path / "other-mirror"
    decoy.mkdir()
    (decoy / "unrelated.bin").write_bytes(b"not it")
    monkeypatch.setenv(MIRROR_ENV, f"{tmp_path / 'absent'}:{decoy}:{source_file.parent}")
    output = tmp_path / "songs.parquet"
    url = f"http://127.0.0.1:{closed_port}/songs.parquet"
    get_data(DataParams(source=url, sha256=sha256_file(source_file)), output)
    assert output.read_bytes() == source_file.read_bytes()


def test_synthetic_source(tmp_path):
    output = tmp_path / "songs.parquet"
    get_data(
        DataParams(source="synthetic", sha256=None, synthetic_rows=500, synthetic_seed=3), output
    )
    table = pd.read_parquet(output)
    assert len(table) == 500


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_a_tampered_local_source_fails_even_with_a_good_copy_in_the_mirror(
    tmp_path, source_file, monkeypatch, as_url
):
    # The mirror holds the good bytes; the user's own file was changed after its hash was taken.
    good = sha256_file(source_file)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "songs.parquet").write_bytes(source_file.read_bytes())
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    source_file.write_bytes(source_file.read_bytes() + b"tampered")
    source = source_file.as_uri() if as_url else str(source_file)
    output = tmp_path / "songs.parquet"
    with pytest.raises(DataSourceError, match=rf"'{source}': sha256 mismatch"):
        get_data(DataParams(source=source, sha256=good), output)
    assert not output.exists()
