"""How many threads the model fits and predicts with: params.yaml's train.n_threads."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

# Queued experiments run in temporary workspaces under this directory.
QUEUED_WORKSPACE_MARKER = str(Path(".dvc", "tmp", "exps"))


def resolve_threads(n_threads: int) -> int:
    """train.n_threads, with 0 meaning every core (one inside a queued experiment)."""
    if n_threads > 0:
        return n_threads
    if QUEUED_WORKSPACE_MARKER in str(Path.cwd()):
        return 1
    return len(os.sched_getaffinity(0))


def limited_threads(n_threads: int) -> AbstractContextManager[Any]:
    """Cap OpenMP (HistGradientBoosting's fit and predict) and BLAS threads at train.n_threads."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=resolve_threads(n_threads))
