"""Stage check_data: schema and drift checks; fails on any failure (params: check_data)."""

import argparse
import sys

from music_genre.core.runner import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table", help="the preprocessed table (parquet)")
    parser.add_argument("reference", help="the reference profile for the drift test (JSON)")
    parser.add_argument("report", help="where to write the check report (JSON)")
    args = parser.parse_args()

    from music_genre.core.params import load_params
    from music_genre.pipeline.check_data import check_file

    params = load_params()
    check_file(
        args.table,
        args.reference,
        args.report,
        params.check_data.ks_alpha,
        params.check_data.max_conflicting_share,
    )


if __name__ == "__main__":
    sys.exit(run_stage("check_data", main))
