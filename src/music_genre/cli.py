"""The `music-genre` command: maintenance tasks around the pipeline."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from music_genre.core import paths
from music_genre.core.errors import PipelineError
from music_genre.core.runner import run_stage
from music_genre.modeling.store import MODEL_PATH, fetch_model
from music_genre.serving import limits

# What each subcommand is added to: the subparsers of `music-genre`.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
REFERENCE_QUANTILES = 1000
SWEEP_WORKERS = 2
# The end of an option's help: its default, as argparse shows it.
DEFAULT = "(default: %(default)s)"

log = logging.getLogger("music_genre.cli")


def _command(
    commands: Commands, name: str, handler: Callable[[argparse.Namespace], None]
) -> argparse.ArgumentParser:
    """The subcommand `name`, which runs `handler` (its docstring is the subcommand's help)."""
    parser = commands.add_parser(name, help=handler.__doc__)
    parser.set_defaults(handler=handler)
    return parser


def _reference_profile(args: argparse.Namespace) -> None:
    """write the drift reference profile of an accepted (preprocessed) table"""
    from music_genre.core.fileio import read_parquet, write_json
    from music_genre.data.profile import build_profile

    write_json(build_profile(read_parquet(args.table), args.quantiles), args.output)


def _add_reference_profile(commands: Commands) -> None:
    profile = _command(commands, "reference-profile", _reference_profile)
    profile.add_argument("table", nargs="?", default=paths.PREPARED_TABLE, help=DEFAULT)
    profile.add_argument("output", nargs="?", default=paths.REFERENCE_PROFILE, help=DEFAULT)
    profile.add_argument("--quantiles", type=int, default=REFERENCE_QUANTILES, help=DEFAULT)


def _synthetic_spec(args: argparse.Namespace) -> None:
    """write the synthetic generator's per-genre spec from a real table"""
    from music_genre.core.fileio import read_parquet, write_json
    from music_genre.data.synthetic import build_spec

    write_json(build_spec(read_parquet(args.table)), args.output)


def _add_synthetic_spec(commands: Commands) -> None:
    spec = _command(commands, "synthetic-spec", _synthetic_spec)
    spec.add_argument("table")
    spec.add_argument(
        "output", nargs="?", default="src/music_genre/data/synthetic_spec.json", help=DEFAULT
    )


def _predict(args: argparse.Namespace) -> None:
    """batch predictions for a table of songs"""
    from music_genre.serving.explain import Explainer
    from music_genre.serving.inputs import InputError
    from music_genre.serving.predict import Predictor, predict_file

    predictor = Predictor.load(args.model)
    explain = None
    if args.explain:
        try:
            explain = Explainer.for_predictor(predictor).columns_of
        except InputError as error:
            raise PipelineError(f"{args.model}: {error.message}") from None
    rows = predict_file(
        predictor,
        args.input,
        args.output,
        with_probabilities=args.probabilities,
        explain=explain,
        batch_rows=args.batch_rows or limits.BATCH_ROWS,  # 0 stands for the default, as ever
    )
    log.info("%d predictions written to %s", rows, args.output)


def _add_predict(commands: Commands) -> None:
    predict = _command(commands, "predict", _predict)
    predict.add_argument("--model", default=MODEL_PATH, help=DEFAULT)
    predict.add_argument("--input", required=True, help="songs (.parquet, .csv or .jsonl)")
    predict.add_argument("--output", required=True, help="predictions (.parquet or .csv)")
    predict.add_argument(
        "--probabilities", action="store_true", help="add one probability column per genre"
    )
    predict.add_argument(
        "--explain",
        action="store_true",
        help="add each genre's base value and every input column's contribution to it, and "
        "the song's top terms (LightGBM models)",
    )
    predict.add_argument(
        "--batch-rows", type=int, default=limits.BATCH_ROWS, help=f"rows per batch {DEFAULT}"
    )


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


def _add_tune(commands: Commands) -> None:
    tune = _command(commands, "tune", _tune)
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


def _serve(args: argparse.Namespace) -> None:
    """serve the REST API with uvicorn"""
    import tempfile

    from music_genre.serving.server import serve

    model = args.model
    if args.rev:
        model = fetch_model(args.rev, tempfile.mkdtemp(prefix="music-genre-model-"), repo=args.repo)
    # Every other option of the subcommand is a keyword argument of serve, of the same name.
    options = {name: value for name, value in vars(args).items() if name not in _NOT_SERVE}
    serve(model, **options)


# The options of `music-genre serve` that serve() does not take.
_NOT_SERVE = frozenset({"command", "handler", "model", "rev", "repo"})


def _add_serve(commands: Commands) -> None:
    serve = _command(commands, "serve", _serve)
    serve.add_argument("--model", default=MODEL_PATH, help=DEFAULT)
    serve.add_argument(
        "--rev",
        help="serve the model of this git revision or registry tag "
        "(e.g. music-genre-classifier@v1.0.0) instead of --model",
    )
    serve.add_argument("--repo", help="with --rev: git URL or path of the project (default: .)")
    serve.add_argument(
        "--host",
        default=os.environ.get(limits.HOST_ENV, limits.DEFAULT_HOST),
        help=f"default: ${limits.HOST_ENV}, else {limits.DEFAULT_HOST}",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get(limits.PORT_ENV, limits.DEFAULT_PORT)),
        help=f"default: ${limits.PORT_ENV}, else {limits.DEFAULT_PORT} "
        "(SageMaker-style platforms expect 8080)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=limits.default_workers(),
        help="server processes, each loading the verified model once "
        "(default: one per available CPU, here %(default)s)",
    )
    _add_serve_limits(serve)
    _add_serve_monitoring(serve)


def _add_serve_limits(serve: argparse.ArgumentParser) -> None:
    """What one request may cost: the limits are declared once, in serving.limits."""
    serve.add_argument(
        "--max-predict-songs",
        "--max-batch-rows",
        dest="max_predict_songs",
        type=int,
        default=limits.MAX_PREDICT_SONGS,
        metavar="SONGS",
        help="songs per /predict or /invocations request (default %(default)s: well under a "
        "second on one core)",
    )
    serve.add_argument(
        "--max-explain-songs",
        type=int,
        default=limits.MAX_EXPLAIN_SONGS,
        metavar="SONGS",
        help="songs per /explain request (default %(default)s: well under a second on one core)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=limits.MAX_BODY_BYTES,
        metavar="BYTES",
        help="request body size (default %(default)s)",
    )
    serve.add_argument(
        "--grace-period",
        type=float,
        default=limits.GRACE_SECONDS,
        metavar="SECONDS",
        help="on SIGTERM or Ctrl-C, how long requests in flight may finish before they are "
        "answered 503 and the server exits (default %(default)s)",
    )


def _add_serve_monitoring(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--no-monitoring",
        dest="monitoring",
        action="store_false",
        help="no /metrics, no /drift, nothing counted",
    )
    serve.add_argument(
        "--reference-profile",
        help=f"the audio features' reference for /drift (default: {paths.REFERENCE_PROFILE})",
    )
    serve.add_argument(
        "--genre-reference",
        help="evaluate's per-genre counts, the predicted-genre mix's reference for /drift "
        f"(default: {paths.PER_GENRE})",
    )
    serve.add_argument(
        "--drift-window",
        type=int,
        default=limits.DRIFT_WINDOW,
        help="the last songs of each worker the drift statistics cover (default %(default)s)",
    )
    serve.add_argument(
        "--drift-threshold",
        type=float,
        default=limits.DRIFT_THRESHOLD,
        help="PSI above which a column drifts (default %(default)s)",
    )


def _fetch_model(args: argparse.Namespace) -> None:
    """fetch and verify the model of a git revision or registry tag"""
    path = fetch_model(args.rev, args.output_dir or f"models/{args.rev}", repo=args.repo)
    log.info("model at %s verified and written to %s", args.rev, path)


def _add_fetch_model(commands: Commands) -> None:
    fetch = _command(commands, "fetch-model", _fetch_model)
    fetch.add_argument(
        "--rev", required=True, help="git revision or tag, e.g. music-genre-classifier@v1.0.0"
    )
    fetch.add_argument("--repo", help="git URL or path of the project (default: .)")
    fetch.add_argument(
        "--output-dir", help="where to write model.joblib and model.json (default: models/<rev>)"
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


def _add_sweep(commands: Commands) -> None:
    sweep = _command(commands, "sweep", _sweep)
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


def _add_plots(commands: Commands) -> None:
    plots = _command(commands, "plots", _plots)
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


def _add_report(commands: Commands) -> None:
    report = _command(commands, "report", _report)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="music-genre", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_reference_profile(commands)
    _add_synthetic_spec(commands)
    _add_predict(commands)
    _add_tune(commands)
    _add_serve(commands)
    _add_fetch_model(commands)
    _add_sweep(commands)
    _add_plots(commands)
    _add_report(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_stage(f"music-genre {args.command}", lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
