"""Stage segregate: seeded train/test split, stratified by the target and grouped by the
contract's entity (params: seed, segregate; contract.yaml)."""

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
        "check_report",
        nargs="?",
        default=paths.CHECK_REPORT,
        help="check_data's report: must say the table passed",
    )
    parser.add_argument(
        "train",
        nargs="?",
        default=paths.TRAIN_SPLIT,
        help="where to write the train split (parquet)",
    )
    parser.add_argument(
        "test", nargs="?", default=paths.TEST_SPLIT, help="where to write the test split (parquet)"
    )
    parser.add_argument(
        "report",
        nargs="?",
        default=paths.SPLIT_METRICS,
        help="where to write what the split achieved (JSON)",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()

    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
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
        contract=load_contract(),
    )


if __name__ == "__main__":
    sys.exit(run_stage("segregate", main))
