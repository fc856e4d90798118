"""The `predict` subcommand: batch predictions for a table, with probabilities and explanations."""

from __future__ import annotations

import argparse

from music_genre.cli.base import DEFAULT, Commands, command, log
from music_genre.core.errors import PipelineError
from music_genre.modeling.store import MODEL_PATH
from music_genre.serving import limits


def _predict(args: argparse.Namespace) -> None:
    """batch predictions for a table with the contract's input columns"""
    from music_genre.serving.explain import Explainer
    from music_genre.serving.inputs import InputError
    from music_genre.serving.predict import Predictor, predict_file

    predictor = Predictor.load(args.model)
    explain = None
    if args.explain:
        try:
            explain = Explainer.for_predictor(predictor).columns_of
        except InputError as error:
            raise PipelineError(f"{args.model}: {error.message}") from None
    rows = predict_file(
        predictor,
        args.input,
        args.output,
        with_probabilities=args.probabilities,
        explain=explain,
        batch_rows=args.batch_rows or limits.BATCH_ROWS,  # 0 stands for the default, as ever
    )
    log.info("%d predictions written to %s", rows, args.output)


def add_predict(commands: Commands) -> None:
    predict = command(commands, "predict", _predict)
    predict.add_argument("--model", default=MODEL_PATH, help=DEFAULT)
    predict.add_argument(
        "--input",
        required=True,
        help="rows to predict, with the input columns of the model's contract "
        "(.parquet, .csv or .jsonl)",
    )
    predict.add_argument("--output", required=True, help="predictions (.parquet or .csv)")
    predict.add_argument(
        "--probabilities", action="store_true", help="add one probability column per class"
    )
    predict.add_argument(
        "--explain",
        action="store_true",
        help="add each class's base value and every input column's contribution to it, and "
        "each row's top terms when the model reads text (LightGBM models)",
    )
    predict.add_argument(
        "--batch-rows", type=int, default=limits.BATCH_ROWS, help=f"rows per batch {DEFAULT}"
    )
