"""Stage train: fit the model, log validation metrics (params: seed, train, tfidf)."""

import argparse
import sys

from music_genre.core.runner import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("train", help="the train split (parquet)")
    parser.add_argument("model", help="where to write the model (joblib; its card goes beside)")
    parser.add_argument("metrics_dir", help="where dvclive writes validation metrics")
    parser.add_argument("plots_dir", help="where dvclive writes validation plots")
    args = parser.parse_args()

    from music_genre.core.params import load_params
    from music_genre.pipeline.train import train

    train(load_params(), args.train, args.model, args.metrics_dir, args.plots_dir)


if __name__ == "__main__":
    sys.exit(run_stage("train", main))
