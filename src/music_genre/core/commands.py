"""The outside programs the package runs (dvc, git): found one way, run one way.

Every call passes a fixed executable and an argument list built by this package (no shell),
captures the output as text, and, with `check`, turns a failure into the project's error with
the last line the program wrote to stderr (its reason).
"""

from __future__ import annotations

import shutil

# Fixed executables and argument lists, no shell.
import subprocess  # nosec B404
import sys
from collections.abc import Sequence
from pathlib import Path

from music_genre.core.errors import PipelineError

Completed = subprocess.CompletedProcess[str]


def executable(name: str) -> str:
    """The program beside this interpreter (the virtual environment's dvc), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    return shutil.which(name) or name


def last_line(text: str, default: str) -> str:
    """The last non-blank line of a program's output (where dvc and git say why)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else default


def run(
    tool: str,
    arguments: Sequence[str],
    cwd: str | Path | None = None,
    *,
    capture: bool = True,
    check: bool = False,
    timeout: float | None = None,
) -> Completed:
    """Run `tool arguments` in `cwd`; with `check`, a non-zero exit raises PipelineError
    naming the command and the program's last stderr line."""
    result = subprocess.run(  # nosec B603
        [executable(tool), *arguments],
        cwd=cwd,
        capture_output=capture,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        reason = last_line(result.stderr or "", f"exit status {result.returncode}")
        raise PipelineError(f"{tool} {' '.join(arguments[:2])} failed: {reason}")
    return result
