"""Stage preprocess: drop duplicate rows, fill missing text, add the text feature (no params;
contract.yaml)."""

import argparse
import sys

from music_genre.core import paths
from music_genre.core.runner import run_stage


def arguments() -> argparse.ArgumentParser:
    """The stage's command line; each path defaults to its home in core.paths."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw", nargs="?", default=paths.RAW_TABLE, help="the raw table (parquet)")
    parser.add_argument(
        "output",
        nargs="?",
        default=paths.PREPARED_TABLE,
        help="where to write the preprocessed table (parquet)",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()

    from music_genre.data.contract import load_contract
    from music_genre.pipeline.preprocess import preprocess_file

    preprocess_file(args.raw, args.output, load_contract())


if __name__ == "__main__":
    sys.exit(run_stage("preprocess", main))
