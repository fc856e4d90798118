"""LightGBM's Dask estimator, with its pitfalls handled: the rows dealt to the workers by class,
every worker checked to hold every class, the ranks in a fixed order, a watch on the workers,
and the fitted booster made the local model the serving code loads.

- Classes: each worker's LightGBM takes the classes from the labels it holds, so a worker
  missing one trains a model of fewer classes (or fails with a socket error). The fit rows are
  dealt to the workers class by class (the k-th row of a class, in table order, goes to worker
  k mod W), and the workers' label sets are checked before fitting.
- Class weights: each worker would weigh the classes by its own counts; the weights are
  computed from the counts over all fit rows and passed as sample weights instead.
- Ranks: LightGBM numbers the workers by a Python set's order of keys (a new order in every
  process), and the bins of each feature come from one rank's rows; the ranks here follow
  the workers' order in `workers`, each holding exactly one share.
- The model: the booster's text records the random ports of the fit; they are written as
  LightGBM's defaults, so the same fit gives the same bytes.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from music_genre.core.cluster import ClusterError
from music_genre.core.errors import DataValidationError, first_line
from music_genre.modeling.chunks import Watch, left_error

if TYPE_CHECKING:
    from music_genre.core.params import TrainParams

_POLL_S: Final = 0.5
# LightGBM's parameters that choose how the booster stops early: not available on Dask.
EARLY_STOPPING: Final = (
    "early_stopping_round",
    "early_stopping_rounds",
    "early_stopping",
    "n_iter_no_change",
)
# Lines of the booster's text that name the fit's network, written as LightGBM's defaults.
_NETWORK_LINES: Final = {"machines": "", "local_listen_port": "12400"}


def sample_weights(class_weight: Any, labels: Mapping[str, int]) -> dict[str, float] | None:
    """Per class, the weight LightGBM's class_weight gives its rows over all fit rows
    (scikit-learn's "balanced": n / (classes x rows of the class)); None: no weights."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        total, count = sum(labels.values()), len(labels)
        return {label: total / (count * rows) for label, rows in labels.items()}
    return {label: float(class_weight.get(label, 1.0)) for label in labels}


class RankedClient:
    """A Dask client whose `who_has` lists LightGBM's parts in the workers' rank order.

    LightGBM's Dask code numbers its workers in the order `who_has` returns the parts, which
    distributed builds from a set of keys: a different order in every process. Here it is the
    order of `workers`, with exactly one part on each."""

    def __init__(self, client: Any, workers: Sequence[str]) -> None:
        self._client = client
        self._rank = {worker: index for index, worker in enumerate(workers)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def who_has(self, futures: Any = None, **kwargs: Any) -> dict[str, list[str]]:
        found = self._client.who_has(futures, **kwargs)
        holders = {key: next(iter(workers)) for key, workers in found.items()}
        if sorted(holders.values()) != sorted(self._rank):
            raise ClusterError(
                "LightGBM's parts did not land one per worker (a worker restarted?): nothing "
                "was written; run the stage again"
            )
        ranked = sorted(holders.items(), key=lambda item: self._rank[item[1]])
        return {key: [worker] for key, worker in ranked}


def dask_arguments(train: TrainParams, rounds: int) -> dict[str, Any]:
    """train.lightgbm's arguments for the Dask estimator: `rounds` rounds, no early stopping,
    no class weights (they come as sample weights)."""
    arguments = {k: v for k, v in getattr(train, train.model).items() if k not in EARLY_STOPPING}
    return {**arguments, "n_estimators": rounds, "class_weight": None}


def fit_on_cluster(
    client: Any, workers: Sequence[str], arguments: Mapping[str, Any], data: tuple[Any, Any, Any]
) -> Any:
    """DaskLGBMClassifier fitted on (matrix, labels, weights), in a thread watched here: a
    worker leaving the cluster ends the wait with one line."""
    from lightgbm import DaskLGBMClassifier

    # A stand-in for the client (it forwards everything else to it).
    ranked: Any = RankedClient(client, workers)
    model = DaskLGBMClassifier(**arguments, client=ranked)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Parameter n_jobs will be ignored."
                box["model"] = model.fit(data[0], data[1], sample_weight=data[2])
        except BaseException as error:  # reported by the watching thread
            box["error"] = error

    thread = threading.Thread(target=run, name="lightgbm-dask-fit", daemon=True)
    thread.start()
    watch = Watch(client, workers, "the LightGBM fit")
    while thread.is_alive():
        thread.join(_POLL_S)
        if thread.is_alive():
            watch.check()
    if "error" in box:
        _raise_fit_error(client, workers, box["error"])
    return box["model"]


def _raise_fit_error(client: Any, workers: Sequence[str], error: BaseException) -> None:
    import time

    if isinstance(error, ClusterError | DataValidationError):
        raise error
    # A killed worker's peers fail first (their sockets close); the scheduler notices soon.
    watch = Watch(client, workers, "the LightGBM fit")
    for _ in range(20):
        missing = watch.missing()
        if missing:
            raise left_error(missing, "the LightGBM fit") from None
        time.sleep(_POLL_S)
    raise ClusterError(
        f"the distributed LightGBM fit failed: {type(error).__name__}: {first_line(error)}"
    ) from None


# The fitted state an LGBMClassifier keeps besides its parameters (copied from the Dask fit).
_FITTED: Final = (
    "_Booster",
    "_n_features",
    "_n_features_in",
    "_objective",
    "fitted_",
    "_best_iteration",
    "_best_score",
    "_evals_result",
)


def local_model(estimator: Any, fitted: Any, classes: Sequence[str]) -> Any:
    """`estimator` (an unfitted LGBMClassifier as the local backend builds it) given the Dask
    fit's booster and this fit's string classes, with the fit's network written as defaults."""
    import pickle  # nosec B403

    import pandas as pd
    from lightgbm.sklearn import _LGBMLabelEncoder

    local = fitted.to_local()
    # New objects, linked only among themselves: state from a worker process is unpickled
    # already, from a worker thread it shares strings with this process's own objects, and
    # pickle writes a shared string once. One round trip makes the bytes the same either way.
    state = pickle.loads(pickle.dumps({name: getattr(local, name) for name in _FITTED}))  # nosec B301
    booster = state["_Booster"].__getstate__()
    for name, value in _NETWORK_LINES.items():
        booster["_handle"] = re.sub(
            rf"^\[{name}: .*\]$", f"[{name}: {value}]", booster["_handle"], flags=re.M
        )
    booster["params"] = {k: v for k, v in booster["params"].items() if k not in _NETWORK_LINES}
    state["_Booster"].__setstate__(booster)
    for name, value in state.items():
        setattr(estimator, name, value)
    # Fitted on labels as the local backend's are (a str Series), so classes_ is alike.
    encoder = _LGBMLabelEncoder().fit(pd.Series(list(classes), dtype="str"))
    estimator._le, estimator._classes, estimator._n_classes = (
        encoder,
        encoder.classes_,
        len(classes),
    )
    estimator._class_map = dict(
        zip(encoder.classes_, encoder.transform(encoder.classes_), strict=True)
    )
    weight = estimator.class_weight
    estimator._class_weight = (
        {estimator._class_map[k]: v for k, v in weight.items()}
        if isinstance(weight, dict)
        else weight
    )
    estimator._fitted_with_feature_names = getattr(local, "_fitted_with_feature_names", False)
    return estimator
