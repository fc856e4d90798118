"""Subcommands around experiments: tune, sweep, plots and report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

from music_genre.cli.base import DEFAULT, Commands, command, log
from music_genre.core import paths
from music_genre.core.errors import PipelineError

SWEEP_WORKERS: Final = 2


def _tune(args: argparse.Namespace) -> None:
    """search params.yaml's tune.space with Optuna; run the best as a DVC experiment"""
    from music_genre.experiments.tune import tune

    tune(
        args.params,
        args.train,
        n_trials=args.trials,
        timeout_s=args.timeout,
        study_name=args.study,
        scheduler=args.scheduler,
        workers=args.workers,
        run_experiment=args.experiment,
        summary_root=Path(args.summaries),
    )


def add_tune(commands: Commands) -> None:
    tune = command(commands, "tune", _tune)
    tune.add_argument(
        "--params", default="params.yaml", help=f"its `tune` section is the search {DEFAULT}"
    )
    tune.add_argument("--train", default=paths.TRAIN_SPLIT, help=f"train split {DEFAULT}")
    tune.add_argument("--trials", type=int, help="trial budget (default: tune.n_trials)")
    tune.add_argument("--timeout", type=float, help="seconds budget (default: tune.timeout_s)")
    tune.add_argument("--study", help="study and experiment name (default: tune.study)")
    tune.add_argument(
        "--scheduler",
        help="Dask scheduler address: trials run on its workers "
        "(default: $DASK_SCHEDULER_ADDRESS with --workers, else in this process)",
    )
    tune.add_argument("--workers", type=int, help="a local Dask cluster of N worker processes")
    tune.add_argument(
        "--summaries",
        "--reports",  # its earlier name
        dest="summaries",
        default=paths.TUNE_SUMMARIES,
        help=f"the study's summary, trials and plots go to SUMMARIES/<study>/ {DEFAULT}",
    )
    tune.add_argument(
        "--no-experiment",
        dest="experiment",
        action="store_false",
        help="only the study: do not run the best trial as a DVC experiment",
    )


def _sweep(args: argparse.Namespace) -> None:
    """run a parameter grid as DVC experiments on a Dask cluster, pushed to the remotes"""
    from music_genre.experiments.sweep import sweep

    outcome = sweep(
        args.set_param, scheduler=args.scheduler, workers=args.workers, remote=args.remote
    )
    if outcome.failed:
        raise PipelineError(
            f"{len(outcome.failed)} of {len(outcome.failed) + len(outcome.finished)} "
            "experiment(s) failed (reasons and logs above)"
        )


def add_sweep(commands: Commands) -> None:
    sweep = command(commands, "sweep", _sweep)
    sweep.add_argument(
        "-S",
        "--set-param",
        action="append",
        default=[],
        metavar="[<file>:]<key>=<values>",
        help="as `dvc exp run --queue -S`: a,b,c choices, range(start,stop,step), +new.key=v",
    )
    sweep.add_argument(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: $DASK_SCHEDULER_ADDRESS, "
        "else a local cluster of --workers processes)",
    )
    sweep.add_argument(
        "--workers",
        type=int,
        default=SWEEP_WORKERS,
        help=f"processes of the local cluster {DEFAULT}",
    )
    sweep.add_argument(
        "--remote",
        default="origin",
        help=f"git remote the workers clone from and push to {DEFAULT}",
    )


def _plots(args: argparse.Namespace) -> None:
    """dvc plots show/diff with Vega inlined, so the HTML renders offline"""
    from music_genre.experiments.plots import run_dvc_plots

    code = run_dvc_plots(args.plots_command, args.dvc_arguments)
    if code != 0:
        raise PipelineError(f"dvc plots {args.plots_command} exited with status {code}")


def add_plots(commands: Commands) -> None:
    plots = command(commands, "plots", _plots)
    plots.add_argument("plots_command", choices=("show", "diff"))
    plots.add_argument(
        "dvc_arguments",
        nargs=argparse.REMAINDER,
        help="passed to dvc plots (revisions, targets, -o DIR, ...)",
    )


def _report(args: argparse.Namespace) -> None:
    """Markdown report (and PNG plots) of what the workspace changed against BASE"""
    from music_genre.experiments.report.writer import write_report

    outcome = write_report(args.base, args.out, args.fail_on)
    log.info("report written to %s", outcome.path)
    if outcome.violations:
        raise PipelineError(f"merge gate failed: {'; '.join(outcome.violations)}")


def add_report(commands: Commands) -> None:
    report = command(commands, "report", _report)
    report.add_argument("base", metavar="BASE", help="git revision to compare with, e.g. main")
    report.add_argument("--out", default="report", help=f"output folder {DEFAULT}")
    report.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="METRIC:DELTA",
        help="exit 1 after writing the report if METRIC moves beyond DELTA: roc_auc:-0.002 "
        "fails on a drop of more than 0.002, log_loss:0.01 on a rise of more than 0.01; "
        "train.<metric> for validation metrics (repeatable)",
    )
