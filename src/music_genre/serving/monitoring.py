"""What an operator scrapes: Prometheus metrics of the server, and live drift of its inputs.

Metrics (prometheus_client). With `serve --workers N` every worker writes its values to files in
a directory made fresh for the server (prometheus_client's multiprocess mode, the directory in
PROMETHEUS_MULTIPROC_DIR) and a scrape, answered by any worker, adds up all of them.
prometheus_client imports its value class once, reading that variable, so this module imports it
only inside functions: `serve` sets or clears the variable before anything imports it.

Drift. Each worker keeps the last `window` rows it predicted, as bin numbers: per numeric
input column the bins of the reference profile (serving.reference; binned as
music_genre.data.drift defines it for check_data too) and the predicted class. The windows'
counts per bin are a gauge summed over the live workers, so any worker answers for the whole
server (at most workers x window rows): its population stability index against the reference
shares, per column and for the predicted-class mix, on /metrics and /drift. (A share of the
window per worker would shrink to that share whenever the load is uneven, as it is for a client
that keeps one connection.) A request only updates this worker's arrays; a thread publishes them
to the shared gauge every PUBLISH_SECONDS (and a scrape publishes the answering worker's at once).

The names that speak of the table come from its contract: the predicted class's label is the
target's name, the predicted-class mix's column is the prediction column (`predicted_<target>`),
and the metrics and /drift count rows under the table's name (`music_genre_<name>_predicted`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from music_genre.data.drift import MISSING_BIN, min_count, psi
from music_genre.serving.reference import DriftSettings

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from music_genre.data.contract import Contract

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
PREFIX: Final = "music_genre"
# Resolves the 1-20 ms of a few rows, then the seconds of a large batch.
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
# How often a worker publishes its drift window to the gauge the workers share: /metrics and
# /drift see the other workers' last PUBLISH_SECONDS of rows late, their own at once.
PUBLISH_SECONDS: Final = 0.5


class _Window:
    """The last `capacity` rows of this process, as one bin number per column (MISSING_BIN:
    missing)."""

    def __init__(self, capacity: int, n_columns: int) -> None:
        self.ring = np.full((capacity, n_columns), MISSING_BIN, dtype=np.int16)
        self.next = 0
        self.filled = 0
        self.lock = threading.Lock()

    def push(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add rows; return (added, evicted) rows."""
        capacity = len(self.ring)
        rows = rows[-capacity:]
        k = len(rows)
        positions = (self.next + np.arange(k)) % capacity
        evicted_count = max(0, self.filled + k - capacity)
        # The oldest rows are the ones at the positions about to be overwritten, up to
        # `evicted_count` of them (a window not yet full overwrites nothing).
        oldest = (self.next - self.filled + np.arange(evicted_count)) % capacity
        evicted = self.ring[oldest].copy()
        self.ring[positions] = rows
        self.next = int((self.next + k) % capacity)
        self.filled = min(capacity, self.filled + k)
        return rows, evicted


def metric_name(words: str) -> str:
    """A contract's name as a Prometheus metric or label name (letters, digits, underscores)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", words)
    return name if re.match(r"[A-Za-z_]", name) and not name.startswith("__") else f"x_{name}"


@dataclass
class Monitor:
    """The metrics of one server process; `None` settings leave drift off. The contract names
    the metrics' rows (its name), the class label (its target) and the predicted-class column."""

    model: str
    estimator: str
    version: str
    model_sha256: str
    classes: list[str]
    contract: Contract
    drift: DriftSettings | None = None
    workers: int = 1
    multiprocess_dir: str | None = field(default_factory=lambda: os.environ.get(MULTIPROC_ENV))

    def __post_init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        # In multiprocess mode values live in files; registering them anywhere would count
        # them twice at a scrape.
        self.registry = None if self.multiprocess_dir else CollectorRegistry()
        where: dict[str, Any] = {"registry": self.registry}
        rows = metric_name(self.contract.name)
        self.prediction_column = self.contract.prediction_column
        self.requests = Counter(
            f"{PREFIX}_requests", "HTTP requests answered, by route and status code",
            ["route", "status"], **where,
        )  # fmt: skip
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds", "Seconds from request to response, by route",
            ["route"], buckets=LATENCY_BUCKETS, **where,
        )  # fmt: skip
        self.rows = Counter(
            f"{PREFIX}_{rows}_predicted", f"{self.contract.name} predicted or explained, by route",
            ["route"], **where,
        )  # fmt: skip
        self.predictions = Counter(
            f"{PREFIX}_predictions", f"{self.contract.name} predicted, by predicted class",
            [metric_name(self.contract.target)], **where,
        )  # fmt: skip
        info = Gauge(
            f"{PREFIX}_model_info", "The served model (value 1)",
            ["model", "estimator", "version", "model_sha256"], multiprocess_mode="max", **where,
        )  # fmt: skip
        info.labels(self.model, self.estimator, self.version, self.model_sha256).set(1)
        self._class_children = [self.predictions.labels(label) for label in self.classes]
        if self.drift is not None:
            self._start_drift(self.drift, where)

    def _start_drift(self, drift: DriftSettings, where: dict[str, Any]) -> None:
        from prometheus_client import Gauge

        self.features = list(drift.reference.bins)
        self.columns = [*self.features, self.prediction_column]
        self.bin_counts = [len(drift.reference.bins[f].expected) for f in self.features]
        self.bin_counts.append(len(self.classes))
        self.window_metric = f"{PREFIX}_drift_window_{metric_name(self.contract.name)}"
        window = Gauge(
            self.window_metric,
            f"{self.contract.name} of the drift window in each reference bin (bin: index, or "
            "the class)",
            ["column", "bin"], multiprocess_mode="livesum", **where,
        )  # fmt: skip
        self._bin_children = [
            [window.labels(column, self._bin_label(c, b)) for b in range(self.bin_counts[c])]
            for c, column in enumerate(self.columns)
        ]
        for children in self._bin_children:
            for child in children:
                child.set(0)  # every series present from the start, at 0
        self._offsets = np.arange(len(self.columns)) * max(self.bin_counts)
        self._bins = [drift.reference.bins[f] for f in self.features]
        self._window = _Window(drift.window, len(self.columns))
        width = max(self.bin_counts)
        self._window_counts_here = np.zeros((len(self.columns), width), dtype=np.int64)
        self._published = self._window_counts_here.copy()
        self._publish_lock = threading.Lock()
        self._publisher: threading.Thread | None = None

    def _bin_label(self, column: int, index: int) -> str:
        return self.classes[index] if self.columns[column] == self.prediction_column else str(index)

    # -- recording -------------------------------------------------------------------------

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def predicted(self, route: str, rows: list[dict[str, Any]], proba: np.ndarray) -> None:
        """Count rows and predicted classes; move the drift window on."""
        if not len(rows):
            return
        best = proba.argmax(axis=1)
        self.rows.labels(route).inc(len(rows))
        for label, count in enumerate(np.bincount(best, minlength=len(self.classes)).tolist()):
            if count:
                self._class_children[label].inc(count)
        if self.drift is None:
            return
        # None (missing) becomes NaN, in no bin (MISSING_BIN).
        values = np.array([[row[f] for f in self.features] for row in rows], dtype=np.float64)
        binned = np.empty((len(rows), len(self.columns)), dtype=np.int16)
        for c, bins in enumerate(self._bins):
            binned[:, c] = bins.codes(values[:, c])
        binned[:, -1] = best
        with self._window.lock:
            added, evicted = self._window.push(binned)
            self._window_counts_here += self._counts(added) - self._counts(evicted)
        if self._publisher is None:
            self._start_publisher()

    def _start_publisher(self) -> None:
        """Publish the window's counts every PUBLISH_SECONDS from a thread, so a request
        only updates numpy arrays (a scrape publishes this process's own counts first)."""
        with self._window.lock:
            if self._publisher is not None:
                return
            self._publisher = threading.Thread(
                target=self._publish_forever, name="music-genre-drift", daemon=True
            )
        self._publisher.start()

    def _publish_forever(self) -> None:
        while True:
            time.sleep(PUBLISH_SECONDS)
            self.publish()

    def publish(self) -> None:
        """Write the bins whose count changed since the last time into the shared gauge."""
        if self.drift is None:
            return
        with self._publish_lock:
            with self._window.lock:
                counts = self._window_counts_here.copy()
            for c, b in zip(*np.nonzero(counts != self._published), strict=True):
                if b < self.bin_counts[c]:
                    self._bin_children[c][b].set(float(counts[c, b]))
            self._published = counts

    def _counts(self, rows: np.ndarray) -> np.ndarray:
        """Rows per (column, bin) of `rows`; MISSING_BIN is not counted."""
        width = max(self.bin_counts)
        flat = rows.astype(np.int64) + self._offsets
        counts = np.bincount(flat[rows >= 0], minlength=len(self.columns) * width)
        return counts.reshape(len(self.columns), width)

    # -- reading ---------------------------------------------------------------------------

    def collect(self) -> list[Metric]:
        """Every metric of the server (all workers'), and the drift statistics derived from them."""
        self.publish()
        metrics = self._collect_values()
        if self.drift is not None:
            metrics += self._drift_metrics(self._window_counts(metrics))
        return metrics

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(_Collected(self.collect())), CONTENT_TYPE_LATEST

    def drift_report(self) -> dict[str, Any]:
        """/drift: per numeric column and for the predicted-class mix, the statistic, threshold
        and verdict (row counts under the contract's name)."""
        assert self.drift is not None  # nosec B101
        self.publish()
        counts = self._window_counts(self._collect_values())
        columns = {}
        for c, column in enumerate(self.columns):
            columns[column] = self._verdict(c, counts[c])
        settings, name = self.drift, self.contract.name
        return {
            "statistic": "psi",
            "threshold": settings.threshold,
            "window": {
                f"{name}_per_worker": settings.window,
                "workers": self.workers,
                f"{name}_at_most": settings.window * self.workers,
            },
            "reference": settings.reference.sources,
            "features": {feature: columns[feature] for feature in self.features},
            self.prediction_column: columns[self.prediction_column],
        }

    def _verdict(self, c: int, counts: np.ndarray) -> dict[str, Any]:
        assert self.drift is not None  # nosec B101
        expected = self._expected(c)
        counts = counts[: len(expected)]
        seen = int(counts.sum())
        needed = min_count(len(expected), self.drift.threshold)
        statistic = psi(counts, expected) if seen else None
        drifting = None if seen < needed or statistic is None else statistic > self.drift.threshold
        return {
            "statistic": statistic,
            "threshold": self.drift.threshold,
            "drifting": drifting,
            self.contract.name: seen,
            f"{self.contract.name}_needed": needed,
            "bins": len(expected),
        }

    def _expected(self, c: int) -> np.ndarray:
        assert self.drift is not None  # nosec B101
        column = self.columns[c]
        if column == self.prediction_column:
            return self.drift.reference.class_shares
        return self.drift.reference.bins[column].expected

    def _collect_values(self) -> list[Metric]:
        if self.registry is not None:
            return list(self.registry.collect())
        from prometheus_client import multiprocess

        directory = Path(str(self.multiprocess_dir))
        _forget_dead_workers(directory)
        files = [str(path) for path in directory.glob("*.db")]
        return list(multiprocess.MultiProcessCollector.merge(files, accumulate=True))

    def _window_counts(self, metrics: Iterable[Metric]) -> np.ndarray:
        width = max(self.bin_counts)
        counts = np.zeros((len(self.columns), width))
        position = {column: c for c, column in enumerate(self.columns)}
        for metric in metrics:
            if metric.name != self.window_metric:
                continue
            for sample in metric.samples:
                c = position[sample.labels["column"]]
                label = sample.labels["bin"]
                predicted = self.columns[c] == self.prediction_column
                b = self.classes.index(label) if predicted else int(label)
                counts[c, b] += sample.value
        return np.rint(counts)

    def _drift_metrics(self, counts: np.ndarray) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        assert self.drift is not None  # nosec B101
        statistic = GaugeMetricFamily(
            f"{PREFIX}_drift_psi",
            "Population stability index of the drift window against the reference, per column",
            labels=["column"],
        )
        name = self.contract.name
        counted = GaugeMetricFamily(
            f"{PREFIX}_drift_{metric_name(name)}",
            f"{name} counted in the drift window, per column",
            labels=["column"],
        )
        drifting = GaugeMetricFamily(
            f"{PREFIX}_drift_drifting",
            "1 when the column's PSI is above the threshold, 0 when not; absent until the "
            f"window holds enough {name} to tell",
            labels=["column"],
        )
        threshold = GaugeMetricFamily(
            f"{PREFIX}_drift_threshold", "PSI above which a column is drifting",
            value=self.drift.threshold,
        )  # fmt: skip
        for c, column in enumerate(self.columns):
            verdict = self._verdict(c, counts[c])
            counted.add_metric([column], verdict[name])
            if verdict["statistic"] is not None:
                statistic.add_metric([column], verdict["statistic"])
            if verdict["drifting"] is not None:
                drifting.add_metric([column], float(verdict["drifting"]))
        return [statistic, counted, drifting, threshold]

    def close(self) -> None:
        """A worker that stops takes its drift window out of the sum."""
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)


@dataclass(frozen=True)
class _Collected:
    metrics: list[Metric]

    def collect(self) -> list[Metric]:
        return self.metrics


def _forget_dead_workers(directory: Path) -> None:
    """prometheus_client's live* gauges keep a killed worker's file: remove those of gone pids."""
    from prometheus_client import multiprocess

    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(directory))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
