"""train: fit the model on the train split, log validation metrics, save model and card."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.core.fileio import read_parquet, sha256_file
from music_genre.core.params import Params

if TYPE_CHECKING:
    import pandas as pd

    from music_genre.data.contract import Contract
    from music_genre.modeling.fitting import Validation
    from music_genre.modeling.recipe import Trained

log = logging.getLogger(__name__)


def fit_and_validation(
    params: Params, contract: Contract, train_path: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train split's fit and validation parts, grouped like the test split
    (segregate.group_by: no entity on both sides) and stratified by the target.

    The split is checked for what training reads: the contract's model inputs, the columns
    that identify its groups and the target."""
    from music_genre.data.splits import split_by

    groups = contract.groups.columns if contract.groups is not None else ()
    columns = [*contract.model_input_columns, *groups, contract.target]
    table = read_parquet(train_path, columns=list(dict.fromkeys(columns)))
    return split_by(
        table,
        contract,
        params.segregate.group_by,
        params.train.val_size,
        params.seed,
        what="validation",
    )


def train(
    params: Params,
    train_path: str,
    model_path: str,
    metrics_dir: str,
    plots_dir: str,
    *,
    contract: Contract | None = None,
) -> dict[str, float]:
    """Fit on train minus a grouped, stratified validation part (the training recipe,
    modeling.recipe); log validation metrics; save the model and its card.

    The contract (default: load_contract()) names the inputs, the target and the groups, and
    goes into the card. The loss of every boosting round on the fitted rows and on the
    validation part is logged as dvclive steps (live for LightGBM, after the fit for the others).
    """
    from music_genre.core.estimators import ESTIMATORS
    from music_genre.data.contract import load_contract
    from music_genre.modeling.canonical import canonicalize_for_pickling
    from music_genre.modeling.fitting import Validation
    from music_genre.modeling.recipe import train_model
    from music_genre.modeling.store import save_model
    from music_genre.modeling.tracking import RoundedLightGBMCallback, StageLive, format_scores

    contract = contract or load_contract()
    inputs, target = list(contract.model_input_columns), contract.target
    fit_part, validation_part = fit_and_validation(params, contract, train_path)
    validation = Validation(validation_part[inputs], validation_part[target])
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
    trained = train_model(
        params,
        contract,
        fit_part[inputs],
        fit_part[target],
        validation,
        callbacks=[RoundedLightGBMCallback(live=live)] if live_curves else (),
    )
    _log_results(live, trained, validation)
    log.info("validation: %s", format_scores(trained.scores))
    canonicalize_for_pickling(trained.pipeline)
    card = _card(params, contract, train_path, trained, (fit_part, validation_part))
    save_model(trained.pipeline, card, model_path)
    return trained.scores


def _log_results(live: Any, trained: Trained, validation: Validation) -> None:
    """What dvclive records after the fit: curves known only then, metrics, confusion matrix."""
    from music_genre.modeling.fitting import CURVE_METRIC
    from music_genre.modeling.tracking import log_confusion, log_curves, log_scores

    log_curves(live, trained.curves, CURVE_METRIC)
    # The curves' folder exists even for a model that exposes no per-round loss.
    (Path(live.plots_dir) / "metrics").mkdir(parents=True, exist_ok=True)
    log_scores(live, trained.scores)
    log_confusion(live, validation.target, trained.validation_proba, trained.classes)
    if trained.rounds is not None:
        live.log_metric("boosting_rounds", trained.rounds, plot=False)
    live.end()


def _card(
    params: Params,
    contract: Contract,
    train_path: str,
    trained: Trained,
    parts: tuple[pd.DataFrame, pd.DataFrame],
) -> dict[str, Any]:
    """The model card: what was fitted, on what, how it scored, with which libraries, and the
    contract it was fitted under (serving rebuilds it from the card)."""
    from music_genre.data.splits import split_report
    from music_genre.modeling.store import library_versions

    fit_part, validation_part = parts
    return {
        "model": params.train.model,
        "estimator": type(trained.pipeline.named_steps["classifier"]).__name__,
        "classes": trained.classes,
        "input_columns": list(contract.model_input_columns),
        "params": _tracked_params(params),
        "training_data": {
            "file": Path(train_path).name,
            "sha256": sha256_file(train_path),
            "fit_rows": len(fit_part),
            "validation_rows": len(validation_part),
            "validation_split": split_report(
                fit_part, validation_part, contract, params.segregate.group_by, "validation"
            ),
        },
        "boosting_rounds": trained.rounds,
        "validation_metrics": trained.scores,
        "versions": library_versions(),
        "contract": contract.card(),
    }


def _tracked_params(params: Params) -> dict[str, Any]:
    return {
        "seed": params.seed,
        "train": params.train.model_dump(),
        "tfidf": params.tfidf.model_dump(),
    }
