"""Errors the pipeline reports to its user as one readable line (no traceback)."""


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
