"""Small models: the committed params with the default estimator made small, so fixtures train in
a second or two."""

from __future__ import annotations

from support.project import PROJECT_ROOT

# Fewer rounds or trees than the committed params, so fixtures train in a second or two.
SMALL_MODEL_ARGUMENTS = {
    "lightgbm": {"n_estimators": 60},
    "random_forest": {"n_estimators": 25, "max_depth": 10},
    "hist_gradient_boosting": {"max_iter": 40},
}


SYNTHETIC_TFIDF_TERMS = 200


def small_model_params():
    """The committed params with the default estimator made small (SMALL_MODEL_ARGUMENTS)."""
    from music_genre.core.params import load_params

    params = load_params(PROJECT_ROOT / "params.yaml")
    estimator = params.train.model
    small = {**getattr(params.train, estimator), **SMALL_MODEL_ARGUMENTS.get(estimator, {})}
    return params.model_copy(update={"train": params.train.model_copy(update={estimator: small})})


def explained_columns(contract, pipeline) -> list[str]:
    """The input columns a fitted pipeline's explanations and importances name, in the
    contract's order: the text columns only when it has the statistics block (tfidf.statistics);
    else they reach the model only as the composed text feature."""
    blocks = {name for name, _, _ in pipeline.named_steps["preprocessor"].transformers_}
    return [
        column
        for column in contract.model_input_columns
        if "stat" in blocks or column not in contract.text_columns
    ]
