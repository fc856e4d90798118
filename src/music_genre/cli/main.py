"""The parser of every subcommand, and the entry point of `music-genre`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from music_genre.cli.data import add_reference_profile, add_synthetic_spec
from music_genre.cli.experiments import add_plots, add_report, add_sweep, add_tune
from music_genre.cli.predict import add_predict
from music_genre.cli.register import add_register
from music_genre.cli.serve import add_fetch_model, add_serve
from music_genre.core.runner import run_stage

DESCRIPTION = "The `music-genre` command: maintenance tasks around the pipeline."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="music-genre", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    add_reference_profile(commands)
    add_synthetic_spec(commands)
    add_predict(commands)
    add_tune(commands)
    add_serve(commands)
    add_fetch_model(commands)
    add_register(commands)
    add_sweep(commands)
    add_plots(commands)
    add_report(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_stage(f"music-genre {args.command}", lambda: args.handler(args))
