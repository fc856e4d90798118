"""Stage check_data: the contract's schema and drift checks; fails on any failure (params:
check_data; contract.yaml)."""

import argparse
import sys

from music_genre.core import paths
from music_genre.core.runner import run_stage


def arguments() -> argparse.ArgumentParser:
    """The stage's command line; each path defaults to its home in core.paths."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "table", nargs="?", default=paths.PREPARED_TABLE, help="the preprocessed table (parquet)"
    )
    parser.add_argument(
        "reference",
        nargs="?",
        default=paths.REFERENCE_PROFILE,
        help="the reference profile for the drift test (JSON)",
    )
    parser.add_argument(
        "report",
        nargs="?",
        default=paths.CHECK_REPORT,
        help="where to write the check report (JSON)",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()

    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.pipeline.check_data import check_file

    params = load_params()
    check_file(
        args.table,
        args.reference,
        args.report,
        params.check_data.ks_alpha,
        params.check_data.max_conflicting_share,
        contract=load_contract(),
    )


if __name__ == "__main__":
    sys.exit(run_stage("check_data", main))
