"""Small models of each estimator on synthetic songs, fitted by the real modeling code."""

from pathlib import Path

from music_genre.core.params import load_params
from music_genre.data.features import MODEL_INPUT_COLUMNS, TARGET
from music_genre.data.splits import stratified_split
from music_genre.modeling.build import build_pipeline
from music_genre.modeling.fitting import Validation, fit

PARAMS = load_params(Path(__file__).resolve().parents[3] / "params.yaml")
COLUMNS = list(MODEL_INPUT_COLUMNS)
SMALL_FOREST = {"n_estimators": 20, "max_depth": 8, "random_state": 0, "n_jobs": 2}


def small_train_params(**forest):
    return PARAMS.train.model_copy(
        update={"model": "random_forest", "random_forest": {**SMALL_FOREST, **forest}}
    )


def fitted(frame, **forest):
    """A small random forest fitted on `frame`."""
    pipeline = build_pipeline(small_train_params(**forest), PARAMS.tfidf)
    return fit(pipeline, frame[COLUMNS], frame[TARGET], "random_forest")


def lightgbm_train_params(**arguments):
    small = {**PARAMS.train.lightgbm, "n_estimators": 40, **arguments}
    return PARAMS.train.model_copy(update={"model": "lightgbm", "lightgbm": small})


def fitted_lightgbm(frame, threads=1, callbacks=(), **arguments):
    """The default estimator, small, with early stopping on a held-out validation part."""
    fit_part, held_out = stratified_split(frame, 0.3, 0, what="validation")
    pipeline = build_pipeline(lightgbm_train_params(**arguments), PARAMS.tfidf)
    return fit(
        pipeline,
        fit_part[COLUMNS],
        fit_part[TARGET],
        "lightgbm",
        threads,
        validation=Validation(held_out[COLUMNS], held_out[TARGET]),
        callbacks=callbacks,
    )
