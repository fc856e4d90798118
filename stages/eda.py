"""Stage eda: plots and a self-contained HTML report of the data (params: eda; contract.yaml)."""

import argparse
import sys

from music_genre.core import paths
from music_genre.core.runner import run_stage


def arguments() -> argparse.ArgumentParser:
    """The stage's command line; each path defaults to its home in core.paths."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "prepared", nargs="?", default=paths.PREPARED_TABLE, help="the preprocessed table (parquet)"
    )
    parser.add_argument(
        "raw",
        nargs="?",
        default=paths.RAW_TABLE,
        help="the raw table, for its missing values (parquet)",
    )
    parser.add_argument(
        "output_dir",
        nargs="?",
        default=paths.EDA_DIR,
        help="where to write images/, data/ and report.html",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()

    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.pipeline.eda import run_eda

    params = load_params()
    run_eda(
        args.prepared,
        args.raw,
        args.output_dir,
        params.eda.sample_rows,
        params.eda.seed,
        contract=load_contract(),
    )


if __name__ == "__main__":
    sys.exit(run_stage("eda", main))
