"""train: fit the model on the train split, log validation metrics, save model and card."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from music_genre.core.fileio import read_parquet, sha256_file
from music_genre.core.params import Params
from music_genre.data.features import MODEL_INPUT_COLUMNS, TARGET, TRACK_COLUMNS

log = logging.getLogger(__name__)


def train(
    params: Params, train_path: str, model_path: str, metrics_dir: str, plots_dir: str
) -> dict[str, float]:
    """Fit on train minus a stratified validation part; log validation metrics; save the model.

    The loss of every boosting round on the fitted rows and on the validation part is logged
    as dvclive steps (live for LightGBM, after the fit for the others).
    """
    from music_genre.core.estimators import ESTIMATORS
    from music_genre.data.splits import split_by, split_report
    from music_genre.modeling.build import build_pipeline
    from music_genre.modeling.canonical import canonicalize_for_pickling
    from music_genre.modeling.fitting import (
        CURVE_METRIC,
        Validation,
        boosting_rounds,
        fit,
        loss_curves,
    )
    from music_genre.modeling.store import library_versions, save_model
    from music_genre.modeling.threads import limited_threads
    from music_genre.modeling.tracking import (
        RoundedLightGBMCallback,
        StageLive,
        format_scores,
        log_curves,
        log_scores,
    )

    table = read_parquet(train_path, columns=[*MODEL_INPUT_COLUMNS, *TRACK_COLUMNS, TARGET])
    # Grouped like the test split (segregate.group_by): no track on both sides.
    group_by = params.segregate.group_by
    fit_part, validation_part = split_by(
        group_by, table, params.train.val_size, params.seed, what="validation"
    )
    validation = Validation(validation_part[list(MODEL_INPUT_COLUMNS)], validation_part[TARGET])
    pipeline = build_pipeline(params.train, params.tfidf)
    log.info(
        "fitting %s on %d rows (%d held out for validation)",
        params.train.model,
        len(fit_part),
        len(validation_part),
    )
    live = StageLive(metrics_dir, plots_dir)
    live.log_params(_tracked_params(params))
    # Steps are boosting rounds, counted from 1 as LightGBM counts them.
    live.step = 1
    live_curves = ESTIMATORS[params.train.model].takes_eval_set
    fit(
        pipeline,
        fit_part[list(MODEL_INPUT_COLUMNS)],
        fit_part[TARGET],
        params.train.model,
        params.train.n_threads,
        validation=validation,
        callbacks=[RoundedLightGBMCallback(live=live)] if live_curves else (),
    )
    if not live_curves:
        curves = loss_curves(
            pipeline, fit_part[list(MODEL_INPUT_COLUMNS)], fit_part[TARGET], validation
        )
        log_curves(live, curves, CURVE_METRIC)
    # The curves' folder exists even for a model that exposes no per-round loss.
    (Path(live.plots_dir) / "metrics").mkdir(parents=True, exist_ok=True)

    classes = [str(name) for name in pipeline.classes_]
    with limited_threads(params.train.n_threads):
        proba = pipeline.predict_proba(validation.features)
    scores = log_scores(live, validation.target, proba, classes)
    rounds = boosting_rounds(pipeline)
    if rounds is not None:
        live.log_metric("boosting_rounds", rounds, plot=False)
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
            "validation_rows": len(validation_part),
            "validation_split": split_report(fit_part, validation_part, group_by, "validation"),
        },
        "boosting_rounds": rounds,
        "validation_metrics": scores,
        "versions": library_versions(),
    }
    canonicalize_for_pickling(pipeline)
    save_model(pipeline, card, model_path)
    return scores


def _tracked_params(params: Params) -> dict[str, Any]:
    return {
        "seed": params.seed,
        "train": params.train.model_dump(),
        "tfidf": params.tfidf.model_dump(),
    }
