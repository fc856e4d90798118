"""The `music-genre` command: maintenance tasks around the pipeline."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from music_genre.core.runner import run_stage
from music_genre.modeling.store import MODEL_PATH

REFERENCE_QUANTILES = 1000


def _reference_profile(args: argparse.Namespace) -> None:
    from music_genre.core.fileio import read_parquet, write_json
    from music_genre.data.profile import build_profile

    write_json(build_profile(read_parquet(args.table), args.quantiles), args.output)


def _synthetic_spec(args: argparse.Namespace) -> None:
    from music_genre.core.fileio import read_parquet, write_json
    from music_genre.data.synthetic import build_spec

    write_json(build_spec(read_parquet(args.table)), args.output)


def _predict(args: argparse.Namespace) -> None:
    import logging

    from music_genre.core.errors import PipelineError
    from music_genre.serving.explain import Explainer
    from music_genre.serving.inputs import InputError
    from music_genre.serving.predict import Predictor, predict_file

    options = {"batch_rows": args.batch_rows} if args.batch_rows else {}
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
        **options,
    )
    logging.getLogger("music_genre.cli").info("%d predictions written to %s", rows, args.output)


def _fetch_model(args: argparse.Namespace) -> None:
    import logging

    from music_genre.modeling.store import fetch_model

    path = fetch_model(args.rev, args.output_dir or f"models/{args.rev}", repo=args.repo)
    logging.getLogger("music_genre.cli").info(
        "model at %s verified and written to %s", args.rev, path
    )


def _serve(args: argparse.Namespace) -> None:
    import tempfile

    from music_genre.modeling.store import fetch_model
    from music_genre.serving.api import serve

    if args.rev:
        args.model = fetch_model(
            args.rev, tempfile.mkdtemp(prefix="music-genre-model-"), repo=args.repo
        )
    serve(
        args.model,
        host=args.host,
        port=args.port,
        workers=args.workers,
        max_predict_songs=args.max_predict_songs,
        max_explain_songs=args.max_explain_songs,
        max_body_bytes=args.max_body_bytes,
        grace_period=args.grace_period,
        monitoring=args.monitoring,
        reference_profile=args.reference_profile,
        genre_reference=args.genre_reference,
        drift_window=args.drift_window,
        drift_threshold=args.drift_threshold,
    )


def _sweep(args: argparse.Namespace) -> None:
    from music_genre.core.errors import PipelineError
    from music_genre.experiments.sweep import sweep

    outcome = sweep(
        args.set_param,
        scheduler=args.scheduler,
        workers=args.workers,
        remote=args.remote,
    )
    if outcome.failed:
        raise PipelineError(
            f"{len(outcome.failed)} of {len(outcome.failed) + len(outcome.finished)} "
            "experiment(s) failed (reasons and logs above)"
        )


def _tune(args: argparse.Namespace) -> None:
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
        report_root=Path(args.reports),
    )


def _add_tune_arguments(tune: argparse.ArgumentParser) -> None:
    tune.add_argument("--params", default="params.yaml", help="its `tune` section is the search")
    tune.add_argument("--train", default="data/split/train.parquet", help="train split")
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
        "--reports", default="plots/tune", help="the study's report goes to REPORTS/<study>/"
    )
    tune.add_argument(
        "--no-experiment",
        dest="experiment",
        action="store_false",
        help="only the study: do not run the best trial as a DVC experiment",
    )


def _plots(args: argparse.Namespace) -> None:
    from music_genre.core.errors import PipelineError
    from music_genre.experiments.plots import run_dvc_plots

    code = run_dvc_plots(args.plots_command, args.dvc_arguments)
    if code != 0:
        raise PipelineError(f"dvc plots {args.plots_command} exited with status {code}")


def _report(args: argparse.Namespace) -> None:
    import logging

    from music_genre.core.errors import PipelineError
    from music_genre.experiments.report.writer import write_report

    outcome = write_report(args.base, args.out, args.fail_on)
    logging.getLogger("music_genre.cli").info("report written to %s", outcome.path)
    if outcome.violations:
        raise PipelineError(f"merge gate failed: {'; '.join(outcome.violations)}")


def _add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--model", default=MODEL_PATH)
    serve.add_argument(
        "--rev",
        help="serve the model of this git revision or registry tag "
        "(e.g. music-genre-classifier@v1.0.0) instead of --model",
    )
    serve.add_argument("--repo", help="with --rev: git URL or path of the project (default: .)")
    serve.add_argument(
        "--host",
        default=os.environ.get("MUSIC_GENRE_HOST", "127.0.0.1"),
        help="default: $MUSIC_GENRE_HOST, else 127.0.0.1",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="default: $PORT, else 8000 (SageMaker-style platforms expect 8080)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes, each loading the verified model once "
        "(default: one per available CPU)",
    )
    _add_serve_limits(serve)
    serve.add_argument(
        "--no-monitoring",
        dest="monitoring",
        action="store_false",
        help="no /metrics, no /drift, nothing counted",
    )
    serve.add_argument(
        "--reference-profile",
        help="the audio features' reference for /drift (default: data/reference_profile.json)",
    )
    serve.add_argument(
        "--genre-reference",
        help="evaluate's per-genre counts, the predicted-genre mix's reference for /drift "
        "(default: plots/evaluate/custom/per_genre.json)",
    )
    serve.add_argument(
        "--drift-window",
        type=int,
        help="the last songs of each worker the drift statistics cover (default 1,000)",
    )
    serve.add_argument(
        "--drift-threshold", type=float, help="PSI above which a column drifts (default 0.1)"
    )


def _add_serve_limits(serve: argparse.ArgumentParser) -> None:
    """What one request may cost: the limits are declared once, in serving.api, and shown here."""
    from music_genre.serving import api

    serve.add_argument(
        "--max-predict-songs",
        "--max-batch-rows",
        dest="max_predict_songs",
        type=int,
        metavar="SONGS",
        help="songs per /predict or /invocations request "
        f"(default {api.MAX_PREDICT_SONGS:,}: well under a second on one core)",
    )
    serve.add_argument(
        "--max-explain-songs",
        type=int,
        metavar="SONGS",
        help=f"songs per /explain request (default {api.MAX_EXPLAIN_SONGS:,}: well under a "
        "second on one core)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        metavar="BYTES",
        help=f"request body size (default {api.MAX_BODY_BYTES // 2**20} MiB)",
    )
    serve.add_argument(
        "--grace-period",
        type=float,
        default=api.GRACE_SECONDS,
        metavar="SECONDS",
        help="on SIGTERM or Ctrl-C, how long requests in flight may finish before they are "
        "answered 503 and the server exits (default %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="music-genre", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    profile = commands.add_parser(
        "reference-profile",
        help="write the drift reference profile of an accepted (preprocessed) table",
    )
    profile.add_argument("table", nargs="?", default="data/prepared/songs.parquet")
    profile.add_argument("output", nargs="?", default="data/reference_profile.json")
    profile.add_argument("--quantiles", type=int, default=REFERENCE_QUANTILES)
    profile.set_defaults(handler=_reference_profile)

    spec = commands.add_parser(
        "synthetic-spec", help="write the synthetic generator's per-genre spec from a real table"
    )
    spec.add_argument("table")
    spec.add_argument("output", nargs="?", default="src/music_genre/data/synthetic_spec.json")
    spec.set_defaults(handler=_synthetic_spec)

    predict = commands.add_parser("predict", help="batch predictions for a table of songs")
    predict.add_argument("--model", default=MODEL_PATH)
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
    predict.add_argument("--batch-rows", type=int, help="rows per batch (default 50,000)")
    predict.set_defaults(handler=_predict)

    tune = commands.add_parser(
        "tune",
        help="search params.yaml's tune.space with Optuna; run the best as a DVC experiment",
    )
    _add_tune_arguments(tune)
    tune.set_defaults(handler=_tune)

    serve = commands.add_parser("serve", help="serve the REST API with uvicorn")
    _add_serve_arguments(serve)
    serve.set_defaults(handler=_serve)

    fetch = commands.add_parser(
        "fetch-model", help="fetch and verify the model of a git revision or registry tag"
    )
    fetch.add_argument(
        "--rev", required=True, help="git revision or tag, e.g. music-genre-classifier@v1.0.0"
    )
    fetch.add_argument("--repo", help="git URL or path of the project (default: .)")
    fetch.add_argument(
        "--output-dir", help="where to write model.joblib and model.json (default: models/<rev>)"
    )
    fetch.set_defaults(handler=_fetch_model)

    sweep = commands.add_parser(
        "sweep",
        help="run a parameter grid as DVC experiments on a Dask cluster, pushed to the remotes",
    )
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
        "--workers", type=int, default=2, help="processes of the local cluster (default 2)"
    )
    sweep.add_argument(
        "--remote", default="origin", help="git remote the workers clone from and push to"
    )
    sweep.set_defaults(handler=_sweep)

    plots = commands.add_parser(
        "plots", help="dvc plots show/diff with Vega inlined, so the HTML renders offline"
    )
    plots.add_argument("plots_command", choices=("show", "diff"))
    plots.add_argument(
        "dvc_arguments",
        nargs=argparse.REMAINDER,
        help="passed to dvc plots (revisions, targets, -o DIR, ...)",
    )
    plots.set_defaults(handler=_plots)

    report = commands.add_parser(
        "report",
        help="Markdown report (and PNG plots) of what the workspace changed against BASE",
    )
    report.add_argument("base", metavar="BASE", help="git revision to compare with, e.g. main")
    report.add_argument("--out", default="report", help="output folder (default: report)")
    report.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="METRIC:DELTA",
        help="exit 1 after writing the report if METRIC moves beyond DELTA: roc_auc:-0.002 "
        "fails on a drop of more than 0.002, log_loss:0.01 on a rise of more than 0.01; "
        "train.<metric> for validation metrics (repeatable)",
    )
    report.set_defaults(handler=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_stage(f"music-genre {args.command}", lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
