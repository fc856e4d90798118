"""Stage segregate: stratified, seeded train/test split (params: seed, segregate)."""

import argparse
import sys

from music_genre.runner import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table", help="the preprocessed table (parquet)")
    parser.add_argument("check_report", help="check_data's report: must say the table passed")
    parser.add_argument("train", help="where to write the train split (parquet)")
    parser.add_argument("test", help="where to write the test split (parquet)")
    args = parser.parse_args()

    from music_genre.params import load_params
    from music_genre.split import segregate_file

    params = load_params()
    segregate_file(
        args.table,
        args.check_report,
        args.train,
        args.test,
        test_size=params.segregate.test_size,
        seed=params.seed,
    )


if __name__ == "__main__":
    sys.exit(run_stage("segregate", main))
