"""`music-genre tune`: a model-based search over params.yaml's `tune.space`, with Optuna.

Optuna's TPE sampler (seeded by `tune.seed`) proposes each trial from the ones before it; the
tuner asks and tells (Optuna's ask-and-tell interface), so every proposal is made here, in one
place, in trial order. A trial is fitted and scored exactly as the train stage fits and scores
(music_genre.experiments.trial) and is stopped early by Optuna's PercentilePruner once its
validation loss falls out of the best `pruning.percentile` per cent of the completed trials' at
the same progress — learning rate x rounds, the shrinkage spent, so that a slow learning rate
is not judged at a round where it cannot have caught up yet. The test split is never read.

Without a cluster, trials run in this process one after the other. With `--scheduler ADDR` or
`--workers N` they run as Dask tasks, as many at once as the cluster has threads; the study's
state lives in Optuna's DaskStorage on the scheduler (trials report their losses there and the
pruner reads them); a killed worker costs the trial it was running (experiments.tune_cluster).

The best trial's parameters become an ordinary DVC experiment, `dvc exp run -n <study> -S ...`;
the study (every trial: parameters, score, rounds, pruned or not, seconds) is written with its
plots to plots/tune/<study>/.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from music_genre.core import commands, paths
from music_genre.core.cluster import connect
from music_genre.core.errors import ParamsError, PipelineError
from music_genre.core.params import Params, TuneParams, load_params, parse_params
from music_genre.data.contract import load_contract
from music_genre.experiments.space import (
    Dimension,
    apply,
    experiment_overrides,
    parse_space,
    tune_settings,
)
from music_genre.experiments.trial import (
    TrialData,
    load_trial_data,
    outcome,
    reporter,
    run_trial,
)

SUMMARY_ROOT: Final = Path(paths.TUNE_SUMMARIES)
TRAIN_SPLIT: Final = paths.TRAIN_SPLIT

log = logging.getLogger(__name__)


@dataclass
class TuneOutcome:
    study: Any
    summary_dir: Path
    best: dict[str, Any] | None
    experiment: str | None = None
    interrupted: bool = False


def direction(metric: str) -> Literal["minimize", "maximize"]:
    from music_genre.modeling.metrics import LOWER_IS_BETTER

    return "minimize" if metric in LOWER_IS_BETTER else "maximize"


def tune(
    params_path: str = "params.yaml",
    train_path: str = TRAIN_SPLIT,
    *,
    n_trials: int | None = None,
    timeout_s: float | None = None,
    study_name: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    run_experiment: bool = True,
    summary_root: Path = SUMMARY_ROOT,
    out: Any = None,
) -> TuneOutcome:
    """Run the study; write its summary; run the best trial as a DVC experiment."""
    out = out or sys.stdout
    params = with_overrides(load_params(params_path), n_trials, timeout_s, study_name)
    settings = tune_settings(params)
    if workers is not None and workers < 1:
        raise ParamsError(f"--workers {workers}: expected 1 or more")
    dimensions = parse_space(params)
    data = load_trial_data(params, train_path, load_contract())
    tuner = Tuner(params, settings, dimensions, data, out)
    print(
        f"study '{settings.study}': {len(dimensions)} parameter(s), {tuner.budget.describe()}, "
        f"metric {settings.metric} on train's validation part",
        file=out,
        flush=True,
    )
    result = TuneOutcome(study=None, summary_dir=summary_root / settings.study, best=None)
    try:
        if scheduler is None and workers is None:
            tuner.run_here(result)
        else:
            tuner.run_on_cluster(result, scheduler, workers or 1)
    except KeyboardInterrupt:
        result.interrupted = True
    if result.study is None:
        raise PipelineError("interrupted before the study started")
    return _conclude(result, settings, dimensions, run_experiment, out)


def with_overrides(
    params: Params, n_trials: int | None, timeout_s: float | None, study: str | None
) -> Params:
    """params with the command line's budget (both keys, when either is given) and name."""
    overrides: dict[str, Any] = {}
    if n_trials is not None or timeout_s is not None:
        overrides = {"n_trials": n_trials, "timeout_s": timeout_s}
    if study is not None:
        overrides["study"] = study
    if not overrides:
        return params
    raw = params.model_dump()
    raw["tune"] = {**tune_settings(params).model_dump(), **overrides}
    return parse_params(raw, "command line")


def _conclude(
    result: TuneOutcome,
    settings: TuneParams,
    dimensions: list[Dimension],
    run_experiment: bool,
    out: Any,
) -> TuneOutcome:
    from music_genre.experiments.study_summary import SUMMARY_FILE, write_study_summary

    study = result.study
    result.best = best = _best(study, settings)
    write_study_summary(
        study, settings, dimensions, result.summary_dir, interrupted=result.interrupted
    )
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    print(
        f"{len(finished)} trial(s) finished; summary in {result.summary_dir}/{SUMMARY_FILE}",
        file=out,
        flush=True,
    )
    if best is None:
        cap = settings.max_nodes
        within = "" if cap is None else f" within tune.max_nodes={cap}"
        raise PipelineError(f"study '{settings.study}': no trial completed{within}")
    print(
        f"best: trial #{best['number']} {settings.metric}={best['value']:.5f} "
        + " ".join(f"{k}={v}" for k, v in best["params"].items()),
        file=out,
        flush=True,
    )
    if result.interrupted:
        raise PipelineError(
            f"interrupted: kept {len(finished)} finished trial(s); best so far is trial "
            f"#{best['number']} ({settings.metric}={best['value']:.5f}); no experiment was run"
        )
    if run_experiment:
        result.experiment = run_best_experiment(settings.study, best["params"], dimensions, out)
    return result


@dataclass
class Budget:
    n_trials: int | None
    timeout_s: float | None
    started: float = field(default_factory=time.time)

    @property
    def deadline(self) -> float | None:
        return None if self.timeout_s is None else self.started + self.timeout_s

    def more(self, finished: int, running: int = 0) -> bool:
        if self.n_trials is not None and finished + running >= self.n_trials:
            return False
        return self.deadline is None or time.time() < self.deadline

    def describe(self) -> str:
        parts = []
        if self.n_trials is not None:
            parts.append(f"{self.n_trials} trial(s)")
        if self.timeout_s is not None:
            parts.append(f"{self.timeout_s:g} s")
        return " or ".join(parts)


class Tuner:
    """The ask-and-tell loop of one study, here or on a Dask cluster."""

    def __init__(
        self,
        params: Params,
        settings: TuneParams,
        dimensions: list[Dimension],
        data: TrialData,
        out: Any,
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.params = params
        self.settings = settings
        self.data = data
        self.out = out
        self.distributions = {d.key: d.distribution for d in dimensions}
        self.sampler = optuna.samplers.TPESampler(seed=settings.seed)
        self.pruner = optuna.pruners.PercentilePruner(
            settings.pruning.percentile,
            n_startup_trials=settings.pruning.startup_trials,
            n_warmup_steps=math.ceil(settings.pruning.warmup / settings.pruning.every - 1e-9),
        )
        self.budget = Budget(settings.n_trials, settings.timeout_s)

    def _study(self, storage: Any) -> Any:
        import optuna

        return optuna.create_study(
            study_name=self.settings.study,
            storage=storage,
            sampler=self.sampler,
            pruner=self.pruner,
            direction=direction(self.settings.metric),
        )

    def run_here(self, result: TuneOutcome) -> None:
        """One trial after the other in this process."""
        import optuna

        study = result.study = self._study(optuna.storages.InMemoryStorage())
        self.budget = Budget(self.settings.n_trials, self.settings.timeout_s)
        finished = 0
        while self.budget.more(finished):
            trial = study.ask(self.distributions)
            try:
                trial_params = apply(self.params, trial.params)
                ended = outcome(
                    functools.partial(
                        run_trial,
                        self.data,
                        trial_params,
                        report=reporter(trial),
                        report_every=self.settings.pruning.every,
                        deadline=self.budget.deadline,
                    )
                )
            except BaseException:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            finished += self.tell(study, trial, ended)

    def run_on_cluster(self, result: TuneOutcome, scheduler: str | None, workers: int) -> None:
        """As many trials at once as the cluster has threads; state in Optuna's DaskStorage
        (experiments.tune_cluster)."""
        import optuna
        from optuna_integration import DaskStorage

        from music_genre.experiments.tune_cluster import ClusterTrials, quiet_experimental_warnings

        with connect(scheduler, workers) as client:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = DaskStorage(optuna.storages.InMemoryStorage(), client=client)
            study = result.study = self._study(storage)
            client.run(quiet_experimental_warnings)
            self.budget = Budget(self.settings.n_trials, self.settings.timeout_s)
            try:
                ClusterTrials(self, client, study).run()
            finally:
                # The study outlives the cluster: its trials are copied into this process.
                result.study = self._study(optuna.storages.InMemoryStorage())
                result.study.add_trials(study.trials)

    def tell(self, study: Any, trial: Any, ended: dict[str, Any]) -> bool:
        """Record a trial's end; True when it counts against the trial budget."""
        import optuna

        metric = self.settings.metric
        trial.set_user_attr("rounds", ended.get("rounds"))
        trial.set_user_attr("seconds", round(ended["seconds"], 3))
        state = ended["state"]
        if state == "complete":
            trial.set_user_attr("scores", ended["scores"])
            trial.set_user_attr("costs", ended["costs"])
            study.tell(trial, float(ended["scores"][metric]))
            line = f"{metric}={ended['scores'][metric]:.5f}"
        elif state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            line = f"pruned at round {ended['rounds']}"
        else:  # the time budget ran out mid-trial, or the trial failed
            reason = ended.get("reason", "out of time" if state == "deadline" else state)
            trial.set_user_attr("reason", reason)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            line = f"stopped ({reason})"
        rounds = f", {ended['rounds']} rounds" if ended.get("rounds") else ""
        print(
            f"  trial #{trial.number}: {line} ({ended['seconds']:.1f} s{rounds}) "
            + " ".join(f"{k}={_short(v)}" for k, v in trial.params.items()),
            file=self.out,
            flush=True,
        )
        return state in ("complete", "pruned")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _best(study: Any, settings: TuneParams) -> dict[str, Any] | None:
    """The trial the study picks: the best score within `tune.max_nodes` (experiments.costs)."""
    from music_genre.experiments.costs import choose
    from music_genre.experiments.study_summary import trial_rows

    maximise = direction(settings.metric) == "maximize"
    chosen = choose(trial_rows(study), maximise, settings.max_nodes)
    if chosen is None:
        return None
    return {"number": chosen["number"], "value": chosen["value"], "params": chosen["params"]}


def run_best_experiment(
    name: str, values: dict[str, Any], dimensions: list[Dimension], out: Any
) -> str:
    arguments = ["exp", "run", "--name", name]
    for override in experiment_overrides(values, dimensions):
        arguments += ["--set-param", override]
    print(
        f"running the best trial as an experiment: dvc {' '.join(arguments)}", file=out, flush=True
    )
    result = commands.run("dvc", arguments)
    if result.returncode != 0:
        reason = commands.last_line(result.stderr or result.stdout, "failed")
        raise PipelineError(f"dvc exp run --name {name}: {reason}")
    return name
