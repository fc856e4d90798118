"""train: fit the model on the train split, log validation metrics, save model and card."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from music_genre.features import MODEL_INPUT_COLUMNS, TARGET
from music_genre.fileio import read_parquet, sha256_file
from music_genre.params import Params

log = logging.getLogger(__name__)


def train(
    params: Params, train_path: str, model_path: str, metrics_dir: str, plots_dir: str
) -> dict[str, float]:
    """Fit on train minus a stratified validation part; log validation metrics; save the model."""
    from music_genre import model, model_store
    from music_genre.split import stratified_split
    from music_genre.tracking import StageLive, format_scores, log_scores

    table = read_parquet(train_path, columns=[*MODEL_INPUT_COLUMNS, TARGET])
    fit_part, validation = stratified_split(
        table, params.train.val_size, params.seed, what="validation"
    )
    pipeline = model.build_pipeline(params.train, params.tfidf)
    log.info(
        "fitting %s on %d rows (%d held out for validation)",
        params.train.model,
        len(fit_part),
        len(validation),
    )
    model.fit(
        pipeline,
        fit_part[list(MODEL_INPUT_COLUMNS)],
        fit_part[TARGET],
        params.train.model,
        params.train.n_threads,
    )
    classes = [str(name) for name in pipeline.classes_]
    with model.limited_threads(params.train.n_threads):
        proba = pipeline.predict_proba(validation[list(MODEL_INPUT_COLUMNS)])

    live = StageLive(metrics_dir, plots_dir)
    live.log_params(_tracked_params(params))
    scores = log_scores(live, validation[TARGET], proba, classes)
    live.end()
    log.info("validation: %s", format_scores(scores))

    card = {
        "model": params.train.model,
        "estimator": type(pipeline.named_steps["classifier"]).__name__,
        "classes": classes,
        "input_columns": list(MODEL_INPUT_COLUMNS),
        "params": _tracked_params(params),
        "training_data": {
            "file": Path(train_path).name,
            "sha256": sha256_file(train_path),
            "fit_rows": len(fit_part),
            "validation_rows": len(validation),
        },
        "validation_metrics": scores,
        "versions": model_store.library_versions(),
    }
    model.canonicalize_for_pickling(pipeline)
    model_store.save_model(pipeline, card, model_path)
    return scores


def _tracked_params(params: Params) -> dict[str, Any]:
    return {"seed": params.seed, "train": asdict(params.train), "tfidf": asdict(params.tfidf)}
