"""Stage evaluate: score the model on the test split; log metrics and plots.

Params: seed, train.n_threads; the data contract (the model's, checked against it).
"""

import argparse
import sys

from music_genre.core import paths
from music_genre.core.runner import run_stage


def arguments() -> argparse.ArgumentParser:
    """The stage's command line; each path defaults to its home in core.paths."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "model", nargs="?", default=paths.MODEL, help="the model (joblib, with its card beside it)"
    )
    parser.add_argument(
        "test", nargs="?", default=paths.TEST_SPLIT, help="the test split (parquet)"
    )
    parser.add_argument(
        "metrics_dir",
        nargs="?",
        default=paths.EVALUATE_METRICS_DIR,
        help="where dvclive writes test metrics",
    )
    parser.add_argument(
        "plots_dir",
        nargs="?",
        default=paths.EVALUATE_PLOTS_DIR,
        help="where dvclive writes test plots",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()

    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.pipeline.evaluate import evaluate

    params = load_params()
    evaluate(
        args.model,
        args.test,
        args.metrics_dir,
        args.plots_dir,
        seed=params.seed,
        n_threads=params.train.n_threads,
        contract=load_contract(),
    )


if __name__ == "__main__":
    sys.exit(run_stage("evaluate", main))
