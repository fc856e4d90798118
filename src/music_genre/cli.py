"""The `music-genre` command: maintenance tasks around the pipeline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from music_genre.runner import run_stage

REFERENCE_QUANTILES = 1000


def _reference_profile(args: argparse.Namespace) -> None:
    from music_genre.fileio import read_parquet, write_json
    from music_genre.profile import build_profile

    write_json(build_profile(read_parquet(args.table), args.quantiles), args.output)


def _synthetic_spec(args: argparse.Namespace) -> None:
    from music_genre.fileio import read_parquet, write_json
    from music_genre.synthetic import build_spec

    write_json(build_spec(read_parquet(args.table)), args.output)


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
    spec.add_argument("output", nargs="?", default="src/music_genre/synthetic_spec.json")
    spec.set_defaults(handler=_synthetic_spec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_stage(f"music-genre {args.command}", lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
