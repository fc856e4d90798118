"""What one request may cost the server, and the server's other defaults: each declared once.

`serve` and its command-line options (whose help shows them), the app factory, the API's request
models and its OpenAPI document (maxItems) read them from here.

The caps come from measured cost (`python benchmarks/serving.py --only cost_per_song
predict_at_cap explain_at_cap`, results under those keys in benchmarks/results/serving.json, shown
in docs/serving.md): the served model behind `serve --workers 1` pinned to one core, one request
at a time over real HTTP from another core. A /predict song costs a small fraction of a
millisecond through the compiled scorer, an /explain song (TreeSHAP) about a hundred times more,
so the caps differ by 20x; a request at either cap stays well under one second at p99 on one
core, as the benchmark's `*_at_cap` sections measure on the committed model.
"""

import os
from typing import Final

# Rows per /predict or /invocations request (they share the cost: one prediction per row).
MAX_PREDICT_SONGS: Final = 1_000
# Rows per /explain request: TreeSHAP costs ~20x the booster's prediction (explain_compute).
MAX_EXPLAIN_SONGS: Final = 50
# Bytes per request body. 1,000 rows copied from the songs table (every column, as JSON records)
# are ~0.4 MB; text costs ~70 ns a byte to tokenize (a 15 MB text column: 1.1 s), so a body at
# this limit holds at most ~0.15 s of text, however it is spread over rows.
MAX_BODY_BYTES: Final = 2 * 1024 * 1024

# The work of a request runs in a worker thread, in chunks of this many rows (~0.1 s each on one
# core); before each chunk the server checks that the client is still there, and drops the
# request if not. (A /predict or /invocations batch of up to INLINE_ROWS rows runs on the event
# loop at once.)
PREDICT_CHUNK_SONGS: Final = 250
EXPLAIN_CHUNK_SONGS: Final = 10
# Up to this many rows are predicted on the event loop (a few ms); larger batches go to a
# thread, so /ping and small requests keep being answered meanwhile.
INLINE_ROWS: Final = 64

# After SIGTERM (or Ctrl-C): stop accepting connections, let requests in flight finish for at
# most this long, then answer those still running 503 and exit.
GRACE_SECONDS: Final = 5.0

# Where the server listens unless told otherwise (the variables first, then the defaults).
HOST_ENV: Final = "MUSIC_GENRE_HOST"
DEFAULT_HOST: Final = "127.0.0.1"
PORT_ENV: Final = "PORT"
DEFAULT_PORT: Final = 8000

# Live drift (serving.monitoring): each worker's last rows, and the PSI above which a column
# drifts. (Its references are the project's files, core.paths.REFERENCE_PROFILE and
# core.paths.per_class_plot of the model's target.)
DRIFT_WINDOW: Final = 1000
DRIFT_THRESHOLD: Final = 0.1

# Rows per batch of `music-genre predict` (serving.predict.predict_file).
BATCH_ROWS: Final = 50_000


def default_workers() -> int:
    """Server processes unless told otherwise: one per CPU this process may run on (one per CPU
    of the machine where the system does not say which those are)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
