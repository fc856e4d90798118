"""Stage get_data: obtain the raw table (params: data; contract.yaml)."""

import argparse
import sys

from music_genre.core import paths
from music_genre.core.runner import run_stage


def arguments() -> argparse.ArgumentParser:
    """The stage's command line; each path defaults to its home in core.paths."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "output", nargs="?", default=paths.RAW_TABLE, help="where to write the raw table (parquet)"
    )
    return parser


def main() -> None:
    args = arguments().parse_args()

    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.pipeline.get_data import get_data

    params = load_params()
    get_data(params.data, args.output, load_contract())


if __name__ == "__main__":
    sys.exit(run_stage("get_data", main))
