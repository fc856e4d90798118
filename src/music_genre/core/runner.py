"""What every stage script shares: logging tagged with the stage name, and one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from music_genre.core.errors import DataValidationError, PipelineError, first_line

LOG_LEVEL_ENV = "MUSIC_GENRE_LOG_LEVEL"


def configure_logging(stage: str) -> None:
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "INFO",
        format=f"%(asctime)s %(levelname)s [{stage}] %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def run_stage(stage: str, main: Callable[[], None]) -> int:
    """Run a stage's main function; report failures as one line and return the exit code.

    A traceback is printed only when MUSIC_GENRE_LOG_LEVEL=DEBUG, because the user's fix is
    almost always in their data or params.yaml, not in this package.
    """
    configure_logging(stage)
    debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    try:
        main()
    except PipelineError as error:
        if isinstance(error, DataValidationError):
            print(error.summary, file=sys.stderr)
        _report(stage, str(error), debug)
        return 1
    except KeyboardInterrupt:
        _report(stage, "interrupted", debug)
        return 130
    except Exception as error:  # a bug or an unforeseen environment problem
        hint = "" if debug else f" (set {LOG_LEVEL_ENV}=DEBUG for the traceback)"
        _report(stage, f"unexpected {type(error).__name__}: {error}", debug, hint)
        return 2
    return 0


def _report(stage: str, message: str, debug: bool, hint: str = "") -> None:
    if debug:
        logging.getLogger(stage).exception(message)
    print(f"{stage}: error: {first_line(message, 'failed')}{hint}", file=sys.stderr)
