"""Subcommands that write the data side's reference files: reference-profile, synthetic-spec."""

from __future__ import annotations

import argparse
from typing import Final

from music_genre.cli.base import DEFAULT, Commands, command
from music_genre.core import paths

REFERENCE_QUANTILES: Final = 1000
SYNTHETIC_SPEC: Final = "data/synthetic_spec.json"


def _reference_profile(args: argparse.Namespace) -> None:
    """write the drift reference profile of an accepted (preprocessed) table"""
    from music_genre.core.fileio import read_parquet, write_json
    from music_genre.data.contract import load_contract
    from music_genre.data.profile import build_profile

    table = read_parquet(args.table)
    write_json(build_profile(table, args.quantiles, load_contract()), args.output)


def add_reference_profile(commands: Commands) -> None:
    profile = command(commands, "reference-profile", _reference_profile)
    profile.add_argument("table", nargs="?", default=paths.PREPARED_TABLE, help=DEFAULT)
    profile.add_argument("output", nargs="?", default=paths.REFERENCE_PROFILE, help=DEFAULT)
    profile.add_argument("--quantiles", type=int, default=REFERENCE_QUANTILES, help=DEFAULT)


def _synthetic_spec(args: argparse.Namespace) -> None:
    """write the synthetic generator's per-class spec from a real table"""
    from music_genre.core.fileio import read_parquet, write_json
    from music_genre.data.contract import load_contract
    from music_genre.data.synthetic import build_spec

    write_json(build_spec(read_parquet(args.table), load_contract()), args.output)


def add_synthetic_spec(commands: Commands) -> None:
    spec = command(commands, "synthetic-spec", _synthetic_spec)
    spec.add_argument("table")
    spec.add_argument("output", nargs="?", default=SYNTHETIC_SPEC, help=DEFAULT)
