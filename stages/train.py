"""Stage train: fit the model, log validation metrics (params: seed, segregate.group_by, train,
tfidf, dask; the data contract). With train.backend dask it fits on a Dask cluster
($DASK_SCHEDULER_ADDRESS, params.yaml dask.scheduler, or a local one)."""

import argparse
import sys

from music_genre.core import paths
from music_genre.core.runner import run_stage


def arguments() -> argparse.ArgumentParser:
    """The stage's command line; each path defaults to its home in core.paths."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "train", nargs="?", default=paths.TRAIN_SPLIT, help="the train split (parquet)"
    )
    parser.add_argument(
        "model",
        nargs="?",
        default=paths.MODEL,
        help="where to write the model (joblib; its card goes beside)",
    )
    parser.add_argument(
        "metrics_dir",
        nargs="?",
        default=paths.TRAIN_METRICS_DIR,
        help="where dvclive writes validation metrics",
    )
    parser.add_argument(
        "plots_dir",
        nargs="?",
        default=paths.TRAIN_PLOTS_DIR,
        help="where dvclive writes validation plots",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()

    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.pipeline.train import train

    train(
        load_params(),
        args.train,
        args.model,
        args.metrics_dir,
        args.plots_dir,
        contract=load_contract(),
    )


if __name__ == "__main__":
    sys.exit(run_stage("train", main))
