"""Subcommands of the served model: serve (the REST API) and fetch-model."""

from __future__ import annotations

import argparse
import os
from typing import Final

from music_genre.cli.base import DEFAULT, Commands, command, log
from music_genre.core import paths
from music_genre.modeling.store import MODEL_PATH, fetch_model
from music_genre.serving import limits

# The options of `music-genre serve` that serve() does not take.
_NOT_SERVE: Final = frozenset({"command", "handler", "model", "rev", "repo"})
CLASS_REFERENCE_FLAG: Final = "--class-reference"


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


def add_serve(commands: Commands) -> None:
    serve = command(commands, "serve", _serve)
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
        metavar="ROWS",
        help="rows per /predict or /invocations request (default %(default)s: well under a "
        "second on one core)",
    )
    serve.add_argument(
        "--max-explain-songs",
        type=int,
        default=limits.MAX_EXPLAIN_SONGS,
        metavar="ROWS",
        help="rows per /explain request (default %(default)s: well under a second on one core)",
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


def class_reference_flags() -> list[str]:
    """--class-reference, and its spelling after the target of ./contract.yaml when there is
    one (`--<target>-reference`, as earlier versions named it)."""
    from music_genre.data.contract import ContractError, load_contract

    flags = [CLASS_REFERENCE_FLAG]
    try:
        target = load_contract().target
    except ContractError:
        return flags  # no contract here: the commands that need one say so
    alias = f"--{target.replace('_', '-')}-reference"
    return flags if alias == CLASS_REFERENCE_FLAG else [*flags, alias]


def _add_serve_monitoring(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--no-monitoring",
        dest="monitoring",
        action="store_false",
        help="no /metrics, no /drift, nothing counted",
    )
    serve.add_argument(
        "--reference-profile",
        help="the numeric input columns' reference profile for /drift "
        f"(default: {paths.REFERENCE_PROFILE})",
    )
    try:
        serve.add_argument(
            *class_reference_flags(),
            dest="class_reference",
            help="evaluate's per-class counts, the reference of the predicted-class mix for "
            f"/drift (default: {paths.PER_CLASS_PLOT}, the model's target)",
        )
    except argparse.ArgumentError:  # the target's spelling is another option's: not offered
        serve.add_argument(CLASS_REFERENCE_FLAG, dest="class_reference")
    serve.add_argument(
        "--drift-window",
        type=int,
        default=limits.DRIFT_WINDOW,
        help="the last rows of each worker the drift statistics cover (default %(default)s)",
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


def add_fetch_model(commands: Commands) -> None:
    fetch = command(commands, "fetch-model", _fetch_model)
    fetch.add_argument(
        "--rev", required=True, help="git revision or tag, e.g. music-genre-classifier@v1.0.0"
    )
    fetch.add_argument("--repo", help="git URL or path of the project (default: .)")
    fetch.add_argument(
        "--output-dir", help="where to write model.joblib and model.json (default: models/<rev>)"
    )
