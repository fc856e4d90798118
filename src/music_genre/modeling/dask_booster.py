"""LightGBM's Dask estimator, with its pitfalls handled: global class weights, the ranks in a
fixed order, the rounds given (it cannot stop early), every round's loss added up over the
workers, a watch on the workers, and the fitted booster made the local model serving loads.

- Classes: each worker's LightGBM takes the classes from the labels it holds, so a worker
  missing one trains a model of fewer classes (or fails with a socket error): the rows are
  dealt to the workers by class and checked before fitting (modeling.shares).
- Class weights: each worker would weigh the classes by its own counts; the weights are
  computed from the counts over all fit rows and passed as sample weights instead.
- Ranks: LightGBM numbers the workers by a Python set's order of keys (a new order in every
  process), and the bins of each feature come from one rank's rows; the ranks here follow
  the workers' order in `workers`, each holding exactly one share.
- Curves: each worker's evaluation results are of its own rows; CurveRecorder keeps them on
  every worker and combine_curves weighs them into the curves of all rows.
- The model: the booster's text records the random ports of the fit; they are written as
  LightGBM's defaults, so the same fit gives the same bytes.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from music_genre.core.cluster import ClusterError
from music_genre.core.errors import DataValidationError, first_line
from music_genre.modeling.chunks import Watch, left_error
from music_genre.modeling.fitting import TRAINING_CURVE, VALIDATION_CURVE

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
    no class weights (they come as sample weights), the training loss kept every round."""
    arguments = {k: v for k, v in getattr(train, train.model).items() if k not in EARLY_STOPPING}
    return {
        **arguments,
        "n_estimators": rounds,
        "class_weight": None,
        "is_provide_training_metric": True,
    }


# Per (fit, worker address): each round's (training, validation) loss on that worker's rows.
_RECORDED: dict[tuple[str, str], list[tuple[float, float]]] = {}


class CurveRecorder:
    """A LightGBM callback run on every worker: each round's loss of the worker's own fit
    rows (from the booster's running scores, weighted as the fit is) and of its validation
    share (the evaluation set). Each worker sees only its rows; `combine_curves` adds them."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, env: Any) -> None:
        from dask.distributed import get_worker

        training = env.model.eval_train()[0].metric_value
        validation = next(r for r in env.evaluation_result_list if r[0] == VALIDATION_CURVE)
        key = (self.token, get_worker().address)
        _RECORDED.setdefault(key, []).append((float(training), float(validation[2])))


def recorded(token: str, dask_worker: Any = None) -> list[tuple[float, float]]:
    """What CurveRecorder kept on this worker for fit `token` (run on each worker)."""
    return _RECORDED.pop((token, dask_worker.address), [])


def combine_curves(
    per_worker: Sequence[Sequence[tuple[float, float]]],
    weights: Sequence[Fraction],
    rows: Sequence[int],
) -> dict[str, list[float]]:
    """Each round's loss over all workers: the training loss weighted by each worker's sum of
    sample weights, the validation loss by its validation rows (exact, then rounded once)."""
    curves: dict[str, list[float]] = {TRAINING_CURVE: [], VALIDATION_CURVE: []}
    for rounds in zip(*per_worker, strict=True):
        training = sum(
            (Fraction(r[0]) * w for r, w in zip(rounds, weights, strict=True)), Fraction(0)
        )
        validation = sum(
            (Fraction(r[1]) * n for r, n in zip(rounds, rows, strict=True)), Fraction(0)
        )
        curves[TRAINING_CURVE].append(float(training / sum(weights, Fraction(0))))
        curves[VALIDATION_CURVE].append(float(validation / sum(rows)))
    return curves


def fit_on_cluster(
    client: Any,
    workers: Sequence[str],
    arguments: Mapping[str, Any],
    data: tuple[Any, Any, Any],
    validation: tuple[Any, Any],
) -> tuple[Any, list[list[tuple[float, float]]]]:
    """DaskLGBMClassifier fitted on (matrix, labels, weights), scoring each worker's share of
    `validation` every round, in a thread watched here (a needed worker leaving, or staying
    paused, ends the wait with one line); with every worker's recorded losses."""
    import uuid

    from lightgbm import DaskLGBMClassifier

    # A stand-in for the client (it forwards everything else to it).
    ranked: Any = RankedClient(client, workers)
    model = DaskLGBMClassifier(**arguments, client=ranked)
    token = uuid.uuid4().hex
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Parameter n_jobs will be ignored."
                box["model"] = model.fit(
                    data[0],
                    data[1],
                    sample_weight=data[2],
                    eval_set=[validation],
                    eval_names=[VALIDATION_CURVE],
                    callbacks=[CurveRecorder(token)],
                )
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
    found = client.run(recorded, token, workers=list(workers))
    return box["model"], [found[worker] for worker in workers]


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


def local_model(
    estimator: Any, fitted: Any, classes: Sequence[str], curves: Mapping[str, list[float]]
) -> Any:
    """`estimator` (an unfitted LGBMClassifier as the local backend builds it) given the Dask
    fit's booster and this fit's string classes, with the fit's network written as defaults
    and, as its evaluation results, the `curves` of all workers (the first rank's own are of
    its rows only)."""
    import pickle  # nosec B403
    from collections import OrderedDict, defaultdict

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
    metric = next(iter(state["_evals_result"].get(VALIDATION_CURVE, {})), "multi_logloss")
    state["_evals_result"] = {
        name: OrderedDict({metric: list(values)}) for name, values in curves.items()
    }
    best: Any = defaultdict(OrderedDict)
    for name, values in curves.items():
        best[name][metric] = values[-1]
    booster["best_score"] = state["_best_score"] = best
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
