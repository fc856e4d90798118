"""Stage preprocess: drop duplicate rows, fill missing text, add text_feature (no params)."""

import argparse
import sys

from music_genre.core.runner import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw", help="the raw table (parquet)")
    parser.add_argument("output", help="where to write the preprocessed table (parquet)")
    args = parser.parse_args()

    from music_genre.pipeline.preprocess import preprocess_file

    preprocess_file(args.raw, args.output)


if __name__ == "__main__":
    sys.exit(run_stage("preprocess", main))
