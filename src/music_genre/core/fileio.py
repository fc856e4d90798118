"""File helpers: every output is written to a temporary sibling and renamed into place."""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.core.errors import DataFileError, first_line

if TYPE_CHECKING:
    import pandas as pd

_HASH_CHUNK = 1 << 20

log = logging.getLogger(__name__)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A crash or an error leaves the previous file (or none) in place, never a half-written one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o644)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def remove_leftovers(target: Path) -> list[Path]:
    """Delete the temporary files an earlier, killed writer of `target` left beside it.

    Only names atomic_path itself makes (`.<name>.<8 random characters>.tmp`) are touched.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
    removed = [
        leftover
        for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp")
        if pattern.fullmatch(leftover.name) and leftover.is_file()
    ]
    for leftover in removed:
        leftover.unlink(missing_ok=True)
        log.warning("removed %s, left by an interrupted earlier run", leftover)
    return removed


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(payload: Any, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike[str], *, missing_ok: bool = False) -> Any:
    """The JSON file's content; a missing file is an error, or None with `missing_ok`."""
    if missing_ok and not Path(path).is_file():
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataFileError(f"{path}: not valid JSON ({error})") from None


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    # The index carries no information here; leaving it out keeps the bytes independent of
    # which rows were dropped or shuffled before.
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_parquet(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read a parquet table, turning every way it can fail into one line naming the file."""
    import pandas as pd
    import pyarrow as pa

    source = Path(path)
    if not source.is_file():
        raise DataFileError(f"{source}: file not found (expected a parquet table)")
    if source.stat().st_size == 0:
        raise DataFileError(f"{source}: file is empty (expected a parquet table)")
    try:
        frame = pd.read_parquet(source)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DataFileError(
            f"{source}: not a readable parquet table ({first_line(error)})"
        ) from None
    if columns is not None:
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise DataFileError(f"{source}: missing required column(s) {', '.join(missing)}")
    return frame
