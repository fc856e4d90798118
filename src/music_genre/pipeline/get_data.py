"""Obtain the raw table: from an offline mirror, a URL, a local path, a file inside an
installed Python package (`python-package:<package>/<path>`), or the generator.

A CSV source (its path ends in .csv) is read with the contract's dtypes and written as parquet,
the format every later stage reads; the sha256 is the source file's, as published.

The data's identity is its sha256: a file found by that hash in a mirror directory is the same
data as the download, so params.yaml and dvc.lock stay as committed wherever the bytes came from.
A table that lacks a column the contract declares is refused in one line, and nothing is written.
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from music_genre.core.errors import DataSourceError, first_line
from music_genre.core.fileio import atomic_path, sha256_file
from music_genre.core.params import SYNTHETIC_SOURCE, DataParams

if TYPE_CHECKING:
    from music_genre.data.contract import Contract

MIRROR_ENV = "MUSIC_GENRE_DATA_MIRROR"
PACKAGE_SCHEME = "python-package"
DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20

log = logging.getLogger(__name__)


def get_data(params: DataParams, output: str | os.PathLike[str], contract: Contract) -> None:
    """Write the raw table described by `params` to `output`, verified against its sha256
    and holding every column of `contract`."""
    if params.source == SYNTHETIC_SOURCE:
        from music_genre.data.synthetic import write_synthetic_table

        log.info(
            "generating a synthetic table of %d rows (seed %d) from %s",
            params.synthetic_rows,
            params.synthetic_seed,
            params.synthetic_spec or "the contract",
        )
        write_synthetic_table(
            params.synthetic_rows, params.synthetic_seed, output, contract, params.synthetic_spec
        )
        return
    with atomic_path(output) as tmp:
        # The mirror stands in for a download only: a local or file:// source is the user's
        # own file, read and verified as given, so a bad copy is reported, never replaced.
        mirrored = (
            find_in_mirrors(params.sha256, _mirror_dirs()) if is_download(params.source) else None
        )
        if mirrored is not None:
            log.info("found %s in the mirror, copying (no network used)", mirrored)
            shutil.copyfile(mirrored, tmp)
        else:
            fetch(params.source, tmp)
        verify_sha256(tmp, params.sha256, params.source)
        if is_csv(params.source):
            csv_to_parquet(tmp, params.source, contract)
        require_contract_columns(tmp, params.source, contract)


def is_csv(source: str) -> bool:
    return urllib.parse.urlsplit(source).path.lower().endswith(".csv")


def csv_to_parquet(path: Path, source: str, contract: Contract) -> None:
    """Rewrite the CSV at `path` as parquet, each declared column read as its contract dtype."""
    import pandas as pd

    where = f"data.source '{source}'"
    try:
        header = pd.read_csv(path, nrows=0).columns
        contract.require_columns(pd.DataFrame(columns=header), where)
        frame = pd.read_csv(path, dtype=dict(contract.raw_dtypes))
    except (ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise DataSourceError(
            f"{where}: not a CSV table of the contract's dtypes ({first_line(error)})"
        ) from None
    frame.to_parquet(path, index=False)


def require_contract_columns(path: Path, source: str, contract: Contract) -> None:
    """One line naming the source and the first declared column its table lacks."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = f"data.source '{source}'"
    try:
        columns = pq.read_schema(path).names
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DataSourceError(
            f"{where}: not a readable parquet table ({first_line(error)})"
        ) from None
    contract.require_columns(pd.DataFrame(columns=columns), where)


def is_download(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme.lower() in ("http", "https")


def _mirror_dirs() -> list[Path]:
    value = os.environ.get(MIRROR_ENV, "")
    return [Path(part) for part in value.split(os.pathsep) if part]


def find_in_mirrors(sha256: str | None, directories: Iterable[Path]) -> Path | None:
    """Return the first regular file in `directories` whose sha256 is `sha256`."""
    if not sha256:
        return None
    for directory in directories:
        if not directory.is_dir():
            log.warning("%s=%s: not a directory, skipped", MIRROR_ENV, directory)
            continue
        for candidate in sorted(directory.iterdir()):
            if candidate.is_file() and sha256_file(candidate) == sha256.lower():
                return candidate
    return None


def fetch(source: str, destination: Path) -> None:
    """Copy `source` (http(s):// URL, file:// URL, python-package: resource or local path) to
    `destination`."""
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if is_download(source):
        _download(source, destination)
    elif scheme == PACKAGE_SCHEME:
        _copy_package_file(source, destination)
    elif scheme == "file":
        _copy_local(
            Path(urllib.request.url2pathname(urllib.parse.urlsplit(source).path)),
            destination,
            source,
        )
    elif scheme and len(scheme) > 1:  # a one-letter scheme is a Windows drive letter
        raise DataSourceError(
            f"params.yaml: data.source '{source}' has unsupported scheme '{scheme}' "
            f"(expected http(s)://, file://, {PACKAGE_SCHEME}:<package>/<path>, a local path or "
            f"'{SYNTHETIC_SOURCE}')"
        )
    else:
        _copy_local(Path(source), destination, source)


def _copy_package_file(source: str, destination: Path) -> None:
    """`python-package:palmerpenguins/data/penguins.csv`: a data file an installed package ships."""
    import importlib.resources

    package, _, resource = source.partition(":")[2].partition("/")
    if not package or not resource:
        raise DataSourceError(
            f"data.source '{source}': expected {PACKAGE_SCHEME}:<package>/<path inside it>"
        )
    try:
        found = importlib.resources.files(package).joinpath(resource)
    except ModuleNotFoundError:
        raise DataSourceError(
            f"data.source '{source}': package '{package}' is not installed (pip install {package})"
        ) from None
    if not found.is_file():
        raise DataSourceError(
            f"data.source '{source}': package '{package}' has no file '{resource}'"
        )
    log.info("copying %s from package %s", resource, package)
    with found.open("rb") as stream, destination.open("wb") as out:
        shutil.copyfileobj(stream, out)


def _copy_local(path: Path, destination: Path, source: str) -> None:
    if not path.is_file():
        raise DataSourceError(f"data.source '{source}': file not found")
    log.info("copying %s", path)
    shutil.copyfile(path, destination)


def _download(url: str, destination: Path) -> None:
    log.info("downloading %s", url)
    request = urllib.request.Request(url, headers={"User-Agent": "music-genre-get-data"})
    try:
        # Only http(s) reaches this point: fetch() dispatches on the scheme.
        opened = urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S)  # nosec B310
        with opened as response, destination.open("wb") as stream:
            while chunk := response.read(_CHUNK):
                stream.write(chunk)
    except urllib.error.HTTPError as error:
        raise DataSourceError(
            f"data.source {url}: download failed with HTTP {error.code} {error.reason}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataSourceError(
            f"data.source {url}: download failed ({reason}); offline, set {MIRROR_ENV} to a "
            "directory holding a copy of the file"
        ) from None


def verify_sha256(path: Path, expected: str | None, source: str) -> None:
    if not expected:
        log.warning("data.sha256 is null: the integrity of %s is not checked", source)
        return
    actual = sha256_file(path)
    if actual != expected.lower():
        raise DataSourceError(
            f"data.source '{source}': sha256 mismatch (expected data.sha256={expected}, "
            f"got {actual})"
        )
    log.info("sha256 verified: %s", actual)
