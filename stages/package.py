"""Stage package: the trained model as an MLflow Model directory (no params; its bytes are the
same on every run).

The contract comes from the model's card (contract.yaml only for a card without one).
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
        "output",
        nargs="?",
        default=paths.MLFLOW_MODEL,
        help="the MLflow Model directory to write (replaced whole)",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()

    from music_genre.pipeline.package import package

    package(args.model, args.output)


if __name__ == "__main__":
    sys.exit(run_stage("package", main))
