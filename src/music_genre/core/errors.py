"""Errors the pipeline reports to its user as one readable line (no traceback)."""

from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any


class PipelineError(Exception):
    """A failure caused by input, configuration or environment, not by a bug in this package."""


class ParamsError(PipelineError):
    """params.yaml is missing a key, has an unknown key, or a value of the wrong type or range."""


class DataSourceError(PipelineError):
    """The raw table could not be obtained or did not match its expected sha256."""


class DataFileError(PipelineError):
    """A data file is missing, unreadable, or lacks the columns a step needs."""


class DataValidationError(PipelineError):
    """The table failed its schema or drift checks; the report lists every failure."""

    def __init__(self, message: str, summary: str = "") -> None:
        super().__init__(message)
        self.summary = summary


class ModelIntegrityError(PipelineError):
    """A model file does not match the hash recorded for it, so it is not unpickled."""


def first_line(error: BaseException | str, default: str | None = None) -> str:
    """The first non-blank line of an error's message: what a one-line report shows.

    An empty message gives `default`, or the error's type name when there is none.
    """
    text = str(error).strip()
    if text:
        return text.splitlines()[0].strip()
    if default is not None:
        return default
    return type(error).__name__ if isinstance(error, BaseException) else ""


def described(error: BaseException) -> str:
    """`Type: first line`, for a failure whose type tells what went wrong (a trial, a task)."""
    return f"{type(error).__name__}: {first_line(error, '')}".strip().rstrip(":")


def error_key(loc: Iterable[str | int], omit: Container[str | int] = ()) -> str:
    """Where a pydantic error is, as one dotted key: `train.lightgbm.num_leaves`, `rows.1.price`.

    Parts of `loc` in `omit` (FastAPI's `body`, say) are left out.
    """
    return ".".join(str(part) for part in loc if part not in omit)


def validation_line(
    problems: Sequence[Mapping[str, Any]], omit: Container[str | int] = (), nowhere: str = ""
) -> str:
    """pydantic's errors (or {loc, msg} dicts like them) as one line: the first as `key: what`,
    then how many more there are; `nowhere` names a problem of the whole input (an empty key)."""
    first = problems[0]
    where = error_key(first["loc"], omit) or nowhere
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"{where}: {first['msg']}{more}"
