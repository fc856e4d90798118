"""Stage segregate: seeded train/test split, stratified by genre and grouped by track
(params: seed, segregate)."""

import argparse
import sys

from music_genre.core.runner import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table", help="the preprocessed table (parquet)")
    parser.add_argument("check_report", help="check_data's report: must say the table passed")
    parser.add_argument("train", help="where to write the train split (parquet)")
    parser.add_argument("test", help="where to write the test split (parquet)")
    parser.add_argument("report", help="where to write what the split achieved (JSON)")
    args = parser.parse_args()

    from music_genre.core.params import load_params
    from music_genre.pipeline.segregate import segregate_file

    params = load_params()
    segregate_file(
        args.table,
        args.check_report,
        args.train,
        args.test,
        args.report,
        test_size=params.segregate.test_size,
        seed=params.seed,
        group_by=params.segregate.group_by,
    )


if __name__ == "__main__":
    sys.exit(run_stage("segregate", main))
