"""The tuner's trials as Dask tasks: as many at once as the cluster has threads.

The split table is scattered to every worker; each trial is a task (experiments.trial's
run_on_worker) that reports to the study in Optuna's DaskStorage on the scheduler. Dask reruns
a task whose worker died, so a killed worker costs the trial it was running. A worker that dies
with the last copy of the table (Dask's Active Memory Manager keeps one once no waiting task
needs more) makes Dask cancel every trial that reads it: the table is scattered again and those
trials run again, at most LOST_TABLE_RERUNS times each.
"""

from __future__ import annotations

import warnings
from typing import Any, Final

from music_genre.core.errors import described
from music_genre.experiments.space import apply
from music_genre.experiments.trial import run_on_worker

# How often a trial cancelled by Dask (its table lost with a worker) is run again.
LOST_TABLE_RERUNS: Final = 2


class ClusterTrials:
    """One study's ask-and-tell loop over a Dask client; the tuner asks, tells and budgets."""

    def __init__(self, tuner: Any, client: Any, study: Any) -> None:
        # tuner: experiments.tune.Tuner (not imported: tune imports this module).
        self.tuner = tuner
        self.client = client
        self.study = study
        self.shared: Any = None  # the scattered table's future

    def run(self) -> None:
        import optuna

        tuner, study = self.tuner, self.study
        slots = max(1, sum(self.client.nthreads().values()))
        self.shared = self._scatter()
        running: dict[Any, Any] = {}
        reruns: dict[int, int] = {}
        finished = 0
        try:
            while True:
                while len(running) < slots and tuner.budget.more(finished, len(running)):
                    trial = study.ask(tuner.distributions)
                    running[self._submit(trial)] = trial
                if not running:
                    break
                for future in first_done(running):
                    trial = running[future]
                    ended = _ended(future)
                    if ended is None and reruns.get(trial.number, 0) < LOST_TABLE_RERUNS:
                        reruns[trial.number] = reruns.get(trial.number, 0) + 1
                        self._scatter_again_if_lost()
                        rerun = self._submit(trial, reruns[trial.number])
                        del running[future]  # only now: a failed resubmit leaves it to be told
                        running[rerun] = trial
                        continue
                    del running[future]
                    ended = ended or {"state": "failed", "seconds": 0.0, "reason": "cancelled"}
                    finished += tuner.tell(study, trial, ended)
        except BaseException:
            for future, trial in running.items():
                future.cancel()
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise

    def _scatter(self) -> Any:
        # A key of its own (hash=False): the same object scattered twice would share one key.
        return self.client.scatter(self.tuner.data, broadcast=True, hash=False)

    def _scatter_again_if_lost(self) -> None:
        if self.shared.status == "finished":
            return
        print(
            "  the split table was lost with a worker: scattered again, its trials rerun",
            file=self.tuner.out,
            flush=True,
        )
        self.shared = self._scatter()

    def _submit(self, trial: Any, rerun: int = 0) -> Any:
        tuner, study = self.tuner, self.study
        key = f"music-genre-tune-{study.study_name}-{trial.number}"
        return self.client.submit(
            run_on_worker,
            self.shared,
            apply(tuner.params, trial.params).model_dump(),
            study._storage,
            study.study_name,
            trial._trial_id,
            pruner=tuner.pruner,
            report_every=tuner.settings.pruning.every,
            deadline=tuner.budget.deadline,
            key=f"{key}-rerun{rerun}" if rerun else key,
            pure=False,
        )


def _ended(future: Any) -> dict[str, Any] | None:
    """A trial's outcome from its future; None when Dask cancelled it (its table was lost with
    a worker, before it ran or while its result was fetched)."""
    from concurrent.futures import CancelledError

    if future.cancelled():
        return None
    try:
        return dict(future.result())
    except CancelledError:
        return None
    except Exception as error:  # e.g. KilledWorker: it killed too many workers
        return {"state": "failed", "seconds": 0.0, "reason": described(error)}


def first_done(running: dict[Any, Any]) -> list[Any]:
    """The futures that have ended, once one has, in trial order; a cancelled one is among
    them (Dask's `wait` raises for it instead of returning it)."""
    from concurrent.futures import CancelledError

    from dask.distributed import wait

    try:
        done, _ = wait(list(running), return_when="FIRST_COMPLETED")
    except CancelledError:
        done = {future for future in running if future.done()}
    return sorted(done, key=lambda future: running[future].number)


def quiet_experimental_warnings() -> None:
    """On a worker: DaskStorage warns that it is experimental each time a task unpickles it."""
    import optuna

    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
