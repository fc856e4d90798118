from pathlib import Path

import pandas as pd
import pytest

from music_genre.core.errors import DataSourceError
from music_genre.core.fileio import sha256_file
from music_genre.core.params import DataParams
from music_genre.data.contract import ContractError, load_contract
from music_genre.pipeline.get_data import MIRROR_ENV, get_data
from support.data import PENGUINS_CONTRACT, SONGS_SPEC, songs_contract, synthetic_songs

SONGS = songs_contract()


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
    get_data(DataParams(source=str(source_file), sha256=sha256_file(source_file)), output, SONGS)
    assert output.read_bytes() == source_file.read_bytes()


def test_file_url(tmp_path, source_file):
    output = tmp_path / "songs.parquet"
    get_data(DataParams(source=source_file.as_uri(), sha256=None), output, SONGS)
    assert sha256_file(output) == sha256_file(source_file)


def test_http_download(tmp_path, source_file, http_url):
    output = tmp_path / "songs.parquet"
    get_data(
        DataParams(source=http_url("songs.parquet"), sha256=sha256_file(source_file)), output, SONGS
    )
    assert output.read_bytes() == source_file.read_bytes()


def test_http_404_is_one_line_and_leaves_nothing(tmp_path, http_url):
    output = tmp_path / "songs.parquet"
    with pytest.raises(DataSourceError, match=r"HTTP 404"):
        get_data(DataParams(source=http_url("missing.parquet"), sha256=None), output, SONGS)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["www"]


def test_connection_refused(tmp_path, closed_port):
    url = f"http://127.0.0.1:{closed_port}/songs.parquet"
    with pytest.raises(DataSourceError, match=rf"download failed .*{MIRROR_ENV}"):
        get_data(DataParams(source=url, sha256=None), tmp_path / "songs.parquet", SONGS)


def test_sha_mismatch_keeps_the_previous_output(tmp_path, source_file):
    output = tmp_path / "songs.parquet"
    output.write_bytes(b"previous good bytes")
    with pytest.raises(DataSourceError, match=r"sha256 mismatch .*expected data.sha256=0000"):
        get_data(DataParams(source=str(source_file), sha256="0" * 64), output, SONGS)
    assert output.read_bytes() == b"previous good bytes"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["songs.parquet", "www"]


def test_missing_local_file(tmp_path):
    with pytest.raises(DataSourceError, match=r"nope.parquet': file not found"):
        get_data(
            DataParams(source=str(tmp_path / "nope.parquet"), sha256=None),
            tmp_path / "out.parquet",
            SONGS,
        )


def test_unsupported_scheme(tmp_path):
    with pytest.raises(DataSourceError, match=r"unsupported scheme 'ftp'"):
        get_data(
            DataParams(source="ftp://example.invalid/x.parquet", sha256=None),
            tmp_path / "out.parquet",
            SONGS,
        )


def test_mirror_is_used_before_the_network(tmp_path, source_file, monkeypatch, closed_port):
    # The source URL points at a closed port: only the mirror can satisfy the request.
    decoy = tmp_path / "other-mirror"
    decoy.mkdir()
    (decoy / "unrelated.bin").write_bytes(b"not it")
    monkeypatch.setenv(MIRROR_ENV, f"{tmp_path / 'absent'}:{decoy}:{source_file.parent}")
    output = tmp_path / "songs.parquet"
    url = f"http://127.0.0.1:{closed_port}/songs.parquet"
    get_data(DataParams(source=url, sha256=sha256_file(source_file)), output, SONGS)
    assert output.read_bytes() == source_file.read_bytes()


def test_synthetic_source_from_the_spec_named_in_params(tmp_path):
    output = tmp_path / "songs.parquet"
    params = DataParams(
        source="synthetic",
        sha256=None,
        synthetic_rows=500,
        synthetic_seed=3,
        synthetic_spec=str(SONGS_SPEC),
    )
    get_data(params, output, SONGS)
    pd.testing.assert_frame_equal(pd.read_parquet(output), synthetic_songs(500, 3))


def test_synthetic_source_from_the_contract_alone(tmp_path):
    penguins = load_contract(PENGUINS_CONTRACT)
    output = tmp_path / "penguins.parquet"
    params = DataParams(source="synthetic", sha256=None, synthetic_rows=300, synthetic_seed=1)
    get_data(params, output, penguins)
    table = pd.read_parquet(output)
    assert len(table) == 300 and list(table.columns) == list(penguins.raw_columns)


def test_a_missing_spec_is_one_line_and_leaves_nothing(tmp_path):
    params = DataParams(source="synthetic", sha256=None, synthetic_spec="data/nope.json")
    with pytest.raises(DataSourceError, match=r"^data/nope.json: synthetic spec not found"):
        get_data(params, tmp_path / "songs.parquet", SONGS)
    assert not list(tmp_path.iterdir())


def test_a_table_without_a_declared_column_is_refused_and_nothing_written(tmp_path, synthetic_raw):
    source = tmp_path / "source.parquet"
    synthetic_raw.drop(columns=["tempo", "valence"]).to_parquet(source, index=False)
    output = tmp_path / "raw" / "songs.parquet"
    with pytest.raises(ContractError) as error:
        get_data(DataParams(source=str(source), sha256=None), output, SONGS)
    line = str(error.value)
    assert line.startswith(
        f"data.source '{source}': column 'valence' is declared in the contract but not in the "
        "table (2 declared column(s) missing"
    )
    assert "\n" not in line
    assert not output.parent.exists() or not list(output.parent.iterdir())


def test_a_source_that_is_not_parquet_is_one_line(tmp_path):
    source = tmp_path / "table.txt"
    source.write_text("a,b\n1,2\n")
    with pytest.raises(DataSourceError, match=r"table.txt': not a readable parquet table"):
        get_data(DataParams(source=str(source), sha256=None), tmp_path / "out.parquet", SONGS)
    assert not (tmp_path / "out.parquet").exists()


PENGUINS_CSV = (
    "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n"
    "Adelie,Torgersen,39.1,18.7,181,3750,male,2007\n"
    "Adelie,Torgersen,NA,NA,NA,NA,NA,2007\n"
    "Gentoo,Biscoe,46.1,13.2,211,4500,female,2008\n"
)


def test_a_csv_source_is_read_with_the_contract_dtypes_and_written_as_parquet(tmp_path):
    penguins = load_contract(PENGUINS_CONTRACT)
    source = tmp_path / "penguins.csv"
    source.write_text(PENGUINS_CSV)
    output = tmp_path / "raw.parquet"
    get_data(DataParams(source=str(source), sha256=sha256_file(source)), output, penguins)
    table = pd.read_parquet(output)
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == penguins.raw_dtypes
    assert table["sex"].isna().tolist() == [False, True, False]
    assert table["flipper_length_mm"].tolist()[0] == 181.0


def test_a_csv_that_lacks_a_declared_column_or_breaks_a_dtype_is_one_line(tmp_path):
    penguins = load_contract(PENGUINS_CONTRACT)
    source = tmp_path / "penguins.csv"
    source.write_text(PENGUINS_CSV.replace("island,", "isle,"))
    output = tmp_path / "raw.parquet"
    with pytest.raises(ContractError, match=r"column 'island' is declared in the contract"):
        get_data(DataParams(source=str(source), sha256=None), output, penguins)
    source.write_text(PENGUINS_CSV.replace("2008", "later"))
    with pytest.raises(DataSourceError, match=r"penguins.csv': not a CSV table of the contract"):
        get_data(DataParams(source=str(source), sha256=None), output, penguins)
    assert not output.exists()


def test_a_file_inside_an_installed_package_is_a_source(tmp_path, monkeypatch):
    package = tmp_path / "site" / "tablepkg"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "penguins.csv").write_text(PENGUINS_CSV)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    penguins = load_contract(PENGUINS_CONTRACT)
    output = tmp_path / "raw.parquet"
    source = "python-package:tablepkg/data/penguins.csv"
    digest = sha256_file(package / "data" / "penguins.csv")
    get_data(DataParams(source=source, sha256=digest), output, penguins)
    assert len(pd.read_parquet(output)) == 3
    for bad, message in [
        ("python-package:no_such_pkg_x/a.csv", "package 'no_such_pkg_x' is not installed"),
        ("python-package:tablepkg/data/other.csv", "package 'tablepkg' has no file"),
        ("python-package:tablepkg", "expected python-package:<package>/<path inside it>"),
    ]:
        with pytest.raises(DataSourceError, match=message):
            get_data(DataParams(source=bad, sha256=None), output, penguins)


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
        get_data(DataParams(source=source, sha256=good), output, SONGS)
    assert not output.exists()
