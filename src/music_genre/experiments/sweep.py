"""`music-genre sweep`: a parameter grid as DVC experiments, one Dask task per experiment.

The coordinator (this module) shares nothing with the workers but the git remote and the DVC
remote: each task clones the sweep's commit, pulls what its changed stages read, runs
`dvc exp run` and `dvc exp push`es the result (music_genre.experiments.task). Dask places the
tasks and runs a task again elsewhere when its worker dies. The grid syntax is DVC's own
(`dvc exp run --queue -S`, expanded by DVC's Hydra sweeper); names are derived from the commit
and the values, so a re-run replaces an experiment and a resumed sweep skips what is pushed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from music_genre.core import commands, paths
from music_genre.core.cluster import connect
from music_genre.core.errors import PipelineError, first_line
from music_genre.experiments.task import GIT_REMOTE_NAME, ExperimentSpec, run_experiment

SORT_METRIC = f"{paths.TRAIN_METRICS}:roc_auc"  # validation roc_auc, written by train
NAME_PREFIX = "sweep"

log = logging.getLogger(__name__)


class SweepError(PipelineError):
    """The sweep could not start (one line, exit status 1)."""


@dataclass(frozen=True)
class SweepOutcome:
    finished: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    skipped: list[str]


def expand(set_params: Sequence[str]) -> list[tuple[str, ...]]:
    """Every experiment of the grid: `dvc exp run -S` arguments, in DVC's own expansion order."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import get_hydra_sweeps

    if not set_params:
        raise SweepError("no parameters to sweep: give at least one -S key=value[,value...]")
    try:
        sweeps = get_hydra_sweeps(to_path_overrides(list(set_params)))
    except (InvalidArgumentError, ValueError) as error:
        raise SweepError(f"-S: {error}") from None
    except Exception as error:  # Hydra's parser raises its own OverrideParseException
        raise SweepError(f"-S: {first_line(error)}") from None
    return [
        tuple(
            override if path == "params.yaml" else f"{path}:{override}"
            for path in sorted(sweep)
            for override in sweep[path]
        )
        for sweep in sweeps
    ]


def check_overrides(grid: list[tuple[str, ...]], repo: Path) -> None:
    """Apply every experiment's values to copies of its params files, as `dvc exp run` will:
    a key that does not exist (without `+`) or a malformed value fails here, in one line,
    before anything reaches the cluster."""
    import shutil
    import tempfile

    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import apply_overrides

    with tempfile.TemporaryDirectory(prefix="music-genre-sweep-check-") as tmp:
        for overrides in grid:
            for path, values in to_path_overrides(list(overrides)).items():
                source = repo / path
                if not source.is_file():
                    raise SweepError(f"-S {values[0]}: {path} does not exist")
                copy = Path(tmp) / Path(path).name
                shutil.copyfile(source, copy)
                try:
                    apply_overrides(copy, values)
                except Exception as error:  # DVC and Hydra raise several kinds
                    reason = first_line(error, "")
                    raise SweepError(
                        f"-S {' '.join(values)}: {reason or type(error).__name__}"
                    ) from None


def experiment_name(commit: str, overrides: Sequence[str]) -> str:
    """Deterministic: the same values on the same commit always get the same name."""
    digest = hashlib.sha256("\n".join(sorted(overrides)).encode()).hexdigest()[:10]
    return f"{NAME_PREFIX}-{commit[:7]}-{digest}"


def _git(args: list[str], cwd: Path) -> commands.Completed:
    return commands.run("git", args, cwd)


def _dvc(args: list[str], cwd: Path, capture: bool = True) -> commands.Completed:
    return commands.run("dvc", args, cwd, capture=capture)


def check_workspace(repo: Path, remote: str) -> tuple[str, str]:
    """The sweep's commit and the git remote's URL; SweepError for what workers could not see."""
    if _git(["rev-parse", "--git-dir"], repo).returncode != 0:
        raise SweepError(f"{repo}: not a git repository")
    dirty = _git(["status", "--porcelain", "--untracked-files=no"], repo).stdout.splitlines()
    if dirty:
        raise SweepError(
            f"uncommitted changes ({dirty[0][3:]}{' and more' if len(dirty) > 1 else ''}): "
            "workers clone the commit, so commit and push first"
        )
    commit = _git(["rev-parse", "HEAD"], repo).stdout.strip()
    url = _git(["remote", "get-url", remote], repo)
    if url.returncode != 0:
        raise SweepError(f"no git remote '{remote}' (workers clone from it: git remote add ...)")
    fetched = _git(["fetch", "--quiet", remote], repo)
    if fetched.returncode != 0:
        reason = (fetched.stderr.strip().splitlines() or ["unreachable"])[-1]
        raise SweepError(f"git remote '{remote}' cannot be fetched: {reason}")
    if not _git(["branch", "-r", "--contains", commit], repo).stdout.strip():
        raise SweepError(
            f"commit {commit[:7]} is not on the git remote '{remote}': workers clone it from "
            f"there (git push {remote} HEAD)"
        )
    return commit, url.stdout.strip()


def pushed_experiments(repo: Path, remote: str, commit: str) -> set[str]:
    listed = _dvc(["exp", "list", remote, "--rev", commit, "--name-only"], repo)
    if listed.returncode != 0:
        raise SweepError(
            f"dvc exp list {remote}: {(listed.stderr.strip().splitlines() or ['failed'])[-1]}"
        )
    return {line.strip() for line in listed.stdout.splitlines() if line.strip()}


def _client(scheduler: str | None, workers: int) -> Any:
    import cloudpickle

    from music_genre.experiments import task

    # The task travels by value: workers need the pinned requirements, not this package.
    cloudpickle.register_pickle_by_value(task)
    return connect(scheduler, workers)


def sweep(
    set_params: Sequence[str],
    *,
    repo: str | os.PathLike[str] = ".",
    scheduler: str | None = None,
    workers: int = 2,
    remote: str = GIT_REMOTE_NAME,
    out: Any = None,
) -> SweepOutcome:
    """Run the grid on Dask; pull what finished; print progress and the comparison to `out`."""
    out = out or sys.stdout
    root = Path(repo).resolve()
    grid = expand(set_params)
    commit, url = check_workspace(root, remote)
    check_overrides(grid, root)
    specs = [ExperimentSpec(experiment_name(commit, o), o, url, commit) for o in grid]
    existing = pushed_experiments(root, remote, commit)
    skipped = [spec.name for spec in specs if spec.name in existing]
    todo = [spec for spec in specs if spec.name not in existing]
    print(
        f"sweep of {len(specs)} experiment(s) on {commit[:7]}: {len(todo)} to run, "
        f"{len(skipped)} already on '{remote}'",
        file=out,
        flush=True,
    )
    for name in skipped:
        print(f"  skip {name} (already pushed)", file=out)
    finished, failed = _run_all(todo, scheduler, workers, out) if todo else ([], [])
    names = [result["name"] for result in finished] + skipped
    if names:
        _pull_and_show(names, remote, commit, root, out)
    for result in failed:
        print(
            f"FAILED {result['name']} ({' '.join(result['overrides'])}): {result['reason']}"
            f"{' (log: ' + result['log'] + ')' if result['log'] else ''}",
            file=out,
        )
    return SweepOutcome(finished, failed, skipped)


def _run_all(
    todo: list[ExperimentSpec], scheduler: str | None, workers: int, out: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each experiment as a Dask task; (finished, failed) results as they complete."""
    from dask.distributed import as_completed

    finished: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    with _client(scheduler, workers) as client:
        futures = {
            client.submit(run_experiment, spec, key=f"music-genre-{spec.name}", pure=False): spec
            for spec in todo
        }
        for done, future in enumerate(as_completed(futures), start=1):
            spec = futures[future]
            try:
                result = future.result()
            except Exception as error:  # e.g. KilledWorker: the task killed too many workers
                result = {
                    "name": spec.name,
                    "ok": False,
                    "log": "",
                    "seconds": {},
                    "reason": f"{type(error).__name__}: {error}",
                    "worker": "",
                }
            (finished if result["ok"] else failed).append({**result, "overrides": spec.overrides})
            print(_progress_line(done, len(todo), result, spec), file=out, flush=True)
    return finished, failed


def _pull_and_show(names: list[str], remote: str, commit: str, root: Path, out: Any) -> None:
    """Pull the experiments into this repository and print them, best validation roc_auc first."""
    pulled = _dvc(["exp", "pull", "--force", remote, *names], root)
    if pulled.returncode != 0:
        reason = commands.last_line(pulled.stderr, "failed")
        raise SweepError(f"dvc exp pull {remote}: {reason}")
    out.flush()
    order = ["--sort-by", SORT_METRIC, "--sort-order", "desc", "--rev", commit]
    shown = _dvc(["exp", "show", "--no-pager", "--only-changed", *order], root)
    print(shown.stdout, file=out, end="")


def _progress_line(done: int, total: int, result: dict[str, Any], spec: ExperimentSpec) -> str:
    seconds = result.get("seconds", {})
    timing = ", ".join(
        f"{step} {seconds[step]:.1f} s"
        for step in ("clone", "pull", "run", "push")
        if step in seconds
    )
    state = "done  " if result["ok"] else "FAILED"
    where = f" on {result['worker']}" if result.get("worker") else ""
    return f"[{done}/{total}] {state} {spec.name} {' '.join(spec.overrides)} ({timing}){where}"
