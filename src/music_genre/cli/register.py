"""The `register` subcommand: the model of a git revision into an MLflow Model Registry."""

from __future__ import annotations

import argparse

from music_genre.cli.base import DEFAULT, Commands, command
from music_genre.experiments.register import REGISTERED_MODEL


def _register(args: argparse.Namespace) -> None:
    """log the model of a git revision to the MLflow tracking server at $MLFLOW_TRACKING_URI
    and register it as a new version"""
    from music_genre.experiments.register import register

    registration = register(args.rev, name=args.name, alias=args.alias)
    alias = f" @{registration.alias}" if registration.alias else ""
    print(f"models:/{registration.name}/{registration.version}{alias}")


def add_register(commands: Commands) -> None:
    register = command(commands, "register", _register)
    register.add_argument(
        "--rev", default="HEAD", help="git revision (commit, tag, branch) of the model " + DEFAULT
    )
    register.add_argument(
        "--name", default=REGISTERED_MODEL, help="the registered model's name " + DEFAULT
    )
    register.add_argument("--alias", help="move this alias (e.g. champion) onto the new version")
