"""One trial of `music-genre tune`, as a Dask worker (or the tuner itself) runs it.

A trial fits on train's fit part and scores train's grouped validation part exactly as the train
stage does: the same split (pipeline.train.fit_and_validation) and the same training recipe
(modeling.recipe.train_model). So the experiment the tuner leaves behind reports the very same
validation score in metrics/train/metrics.json.

What is costly and shared stays in the process between trials: the split table and the contract
it was read under (TrialData), and the fitted preprocessing of each `tfidf` setting with the two
matrices it makes (modeling.recipe.prepare); a trial that changes no preprocessing knob only
fits trees.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from music_genre.core.errors import described
from music_genre.core.params import Params
from music_genre.modeling.fitting import VALIDATION_CURVE, Prepared, Validation

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.data.contract import Contract

# LightGBM's learning rate when params.yaml does not set one.
DEFAULT_LEARNING_RATE: Final = 0.1
VALIDATION: Final = VALIDATION_CURVE
LOSS: Final = "multi_logloss"
# Preprocessed matrices kept per process, one pair per tfidf setting (LRU).
KEPT_PREPARATIONS: Final = 4


class StopTrial(Exception):  # noqa: N818 (a signal, not an error)
    """Raised from the boosting loop: `reason` is 'pruned' or 'deadline'."""

    def __init__(self, reason: str, rounds: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rounds = rounds


@dataclass(frozen=True)
class TrialData:
    """train's fit and validation parts, split once (what every trial reads), and the contract
    that names their columns (it travels to the workers with them)."""

    token: str  # identifies the table, the contract and the split, for the per-process caches
    contract: Contract
    fit_features: pd.DataFrame
    fit_target: pd.Series
    validation_features: pd.DataFrame
    validation_target: pd.Series

    @property
    def validation(self) -> Validation:
        return Validation(self.validation_features, self.validation_target)


def load_trial_data(params: Params, train_path: str, contract: Contract | None = None) -> TrialData:
    """The train split's fit and validation parts, split as the train stage splits them; the
    contract defaults to the project's (load_contract(): a trial runs in the project)."""
    from music_genre.core.fileio import sha256_file
    from music_genre.data.contract import load_contract
    from music_genre.pipeline.train import fit_and_validation

    contract = contract or load_contract()
    inputs, target = list(contract.model_input_columns), contract.target
    fit_part, validation_part = fit_and_validation(params, contract, train_path)
    group_by = params.segregate.group_by
    identity = (
        f"{sha256_file(train_path)}:{contract.model_dump_json()}:{group_by}:"
        f"{params.train.val_size}:{params.seed}"
    )
    return TrialData(
        hashlib.sha256(identity.encode()).hexdigest()[:16],
        contract,
        fit_part[inputs],
        fit_part[target],
        validation_part[inputs],
        validation_part[target],
    )


_PREPARED: OrderedDict[tuple[str, str, str], Prepared] = OrderedDict()


def prepared(data: TrialData, params: Params) -> Prepared:
    """The fitted preprocessing of `params` and its two matrices, made once per setting."""
    from music_genre.modeling.recipe import prepare

    # The estimator decides whether the text block stays sparse (core.estimators).
    key = (data.token, params.train.model, params.tfidf.model_dump_json())
    if key in _PREPARED:
        _PREPARED.move_to_end(key)
        return _PREPARED[key]
    _PREPARED[key] = prepare(
        params, data.contract, data.fit_features, data.fit_target, data.validation
    )
    while len(_PREPARED) > KEPT_PREPARATIONS:
        _PREPARED.popitem(last=False)
    return _PREPARED[key]


@dataclass(frozen=True)
class TrialResult:
    scores: dict[str, float]
    rounds: int | None
    seconds: float
    # What the model costs (experiments.costs): nodes, scoring time, fit time, size.
    costs: dict[str, Any]


def progress_steps(params: Params, every: float) -> Callable[[int], int]:
    """Boosting round -> pruning step: the shrinkage spent (learning rate x rounds) in units of
    `every`. Trials are compared at the same step, so a slow learning rate meets fast ones at
    the same distance travelled rather than at the same round (where it always looks worse)."""
    arguments = getattr(params.train, params.train.model)
    rate = float(arguments.get("learning_rate", arguments.get("eta", DEFAULT_LEARNING_RATE)))
    return lambda rounds: int(rounds * rate / every + 1e-9)


def run_trial(
    data: TrialData,
    params: Params,
    *,
    report: Callable[[int, float], bool] | None = None,
    report_every: float = 0.5,
    deadline: float | None = None,
) -> TrialResult:
    """Fit and score one parameter set. `report(step, validation loss)` is called each time
    the trial passes a step of `report_every` shrinkage (progress_steps) and returns True to
    stop it (pruned); past `deadline` (time.time()) the trial stops too. Both raise StopTrial.
    """
    from music_genre.experiments.costs import trial_costs
    from music_genre.modeling.recipe import train_model

    start = time.perf_counter()
    step_of = progress_steps(params, report_every)

    def watch(env: Any) -> None:
        done = env.iteration + 1
        if deadline is not None and time.time() > deadline:
            raise StopTrial("deadline", done)
        step = step_of(done)
        if report is None or step == step_of(done - 1):
            return
        loss = next(
            value
            for name, metric, value, *_ in env.evaluation_result_list
            if name == VALIDATION and metric == LOSS
        )
        if report(step, loss):
            raise StopTrial("pruned", done)

    trained = train_model(
        params,
        data.contract,
        data.fit_features,
        data.fit_target,
        data.validation,
        callbacks=[watch],
        prepared=prepared(data, params),
    )
    seconds = time.perf_counter() - start
    costs = trial_costs(trained.pipeline, data.validation_features, seconds)
    return TrialResult(trained.scores, trained.rounds, seconds, costs)


def run_on_worker(
    data: TrialData,
    raw_params: dict[str, Any],
    storage: Any,
    study_name: str,
    trial_id: int,
    *,
    pruner: Any,
    report_every: float,
    deadline: float | None,
) -> dict[str, Any]:
    """A Dask task: run the trial the tuner asked for, reporting to the shared study. Params
    travel as the plain mapping of params.yaml and are validated again here."""
    import optuna

    from music_genre.core.params import parse_params

    params = parse_params(raw_params)
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
    trial = optuna.Trial(study, trial_id)
    return outcome(
        lambda: run_trial(
            data, params, report=reporter(trial), report_every=report_every, deadline=deadline
        )
    )


def reporter(trial: Any) -> Callable[[int, float], bool]:
    """Report a round's validation loss to the study; True when the pruner stops the trial.

    Pruners rank intermediate values in the study's direction, so for a maximised metric the
    loss is reported negated (higher is better, like the metric)."""
    import optuna

    sign = -1.0 if trial.study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0

    def report(step: int, loss: float) -> bool:
        trial.report(sign * loss, step)
        return bool(trial.should_prune())

    return report


def outcome(action: Callable[[], TrialResult]) -> dict[str, Any]:
    """What a trial ended with, as plain data (it travels back from a worker)."""
    start = time.perf_counter()
    try:
        result = action()
    except StopTrial as stop:
        return {
            "state": stop.reason,
            "rounds": stop.rounds,
            "seconds": time.perf_counter() - start,
        }
    except Exception as error:  # e.g. LightGBM refusing a value: this trial fails, not the study
        return {
            "state": "failed",
            "reason": described(error),
            "seconds": time.perf_counter() - start,
        }
    return {
        "state": "complete",
        "scores": result.scores,
        "rounds": result.rounds,
        "seconds": result.seconds,
        "costs": result.costs,
    }
