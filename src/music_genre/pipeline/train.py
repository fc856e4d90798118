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
    from music_genre.data.splits import split_report
    from music_genre.modeling.canonical import canonicalize_for_pickling
    from music_genre.modeling.fitting import Validation
    from music_genre.modeling.recipe import train_model
    from music_genre.modeling.store import save_model
    from music_genre.modeling.tracking import RoundedLightGBMCallback, StageLive, format_scores

    contract = contract or load_contract()
    if params.train.backend == "dask":
        return _train_on_cluster(params, contract, train_path, model_path, (metrics_dir, plots_dir))
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
    trained = _refit(params, contract, trained, (fit_part, validation_part))
    canonicalize_for_pickling(trained.pipeline)
    report = split_report(
        fit_part, validation_part, contract, params.segregate.group_by, "validation"
    )
    card = _card(params, contract, train_path, trained, report)
    save_model(trained.pipeline, card, model_path)
    return trained.scores


def _refit(
    params: Params,
    contract: Contract,
    trained: Trained,
    parts: tuple[pd.DataFrame, pd.DataFrame],
) -> Trained:
    """train.refit: the final model fitted on the fit rows, then the validation rows."""
    import pandas as pd

    from music_genre.modeling.recipe import refitted

    if params.train.refit == "none":
        return trained
    whole = pd.concat(parts, ignore_index=True)
    log.info("refitting on the whole train split (%d rows): %s", len(whole), params.train.refit)
    inputs = list(contract.model_input_columns)
    final = refitted(
        params, contract, trained, whole[inputs], whole[contract.target], fit_rows=len(parts[0])
    )
    log.info("refitted: %s boosting rounds", final.rounds)
    return final


def _train_on_cluster(
    params: Params,
    contract: Contract,
    train_path: str,
    model_path: str,
    outputs: tuple[str, str],
) -> dict[str, float]:
    """train.backend dask: the split read in chunks by the workers, the same split and the
    recipe's distributed twin (modeling.distributed); nothing is written until it is fitted."""
    from music_genre.core.cluster import connect, require_packages, worker_addresses
    from music_genre.modeling.canonical import canonicalize_for_pickling
    from music_genre.modeling.chunks import split_partitioned
    from music_genre.modeling.distributed import Cluster, check_backend, train_model_distributed
    from music_genre.modeling.fitting import Validation
    from music_genre.modeling.store import save_model
    from music_genre.modeling.tracking import StageLive, format_scores

    check_backend(params)
    if params.train.refit != "none":  # its card records no refit
        log.warning("train.refit %s: the dask backend does not refit", params.train.refit)
    settings = params.dask
    with connect(
        settings.scheduler,
        settings.workers,
        timeout_s=settings.timeout_s,
        named_by="params.yaml dask.scheduler",
    ) as client:
        workers = worker_addresses(client, settings.workers, settings.timeout_s)
        require_packages(client, workers)
        split = split_partitioned(
            client,
            train_path,
            contract,
            (params.segregate.group_by, params.train.val_size, params.seed),
            chunk_rows=settings.chunk_rows,
            workers=workers,
        )
        log.info(
            "%d fit rows, %d held out for validation, in %d chunk(s) on %d Dask worker(s)",
            split.fit_rows,
            split.validation_rows,
            len(split.chunks),
            len(workers),
        )
        result = train_model_distributed(params, contract, split, Cluster(client, workers))
    trained = result.trained
    live = StageLive(*outputs)
    live.log_params(_tracked_params(params))
    live.step = 1
    _log_results(
        live, trained, Validation(result.validation_target.to_frame(), result.validation_target)
    )
    log.info("validation: %s", format_scores(trained.scores))
    canonicalize_for_pickling(trained.pipeline)
    card = _card(params, contract, train_path, trained, split.report)
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
    report: dict[str, Any],
) -> dict[str, Any]:
    """The model card: what was fitted, on what, how it scored, with which libraries, and the
    contract it was fitted under (serving rebuilds it from the card). `report` is the
    validation split's (data.splits.split_report)."""
    from music_genre.modeling.store import library_versions

    rows = report["rows"]
    return {
        "model": params.train.model,
        "estimator": type(trained.pipeline.named_steps["classifier"]).__name__,
        "classes": trained.classes,
        "input_columns": list(contract.model_input_columns),
        "params": _tracked_params(params),
        "training_data": {
            "file": Path(train_path).name,
            "sha256": sha256_file(train_path),
            "fit_rows": rows["rest"],
            "validation_rows": rows["validation"],
            "validation_split": report,
        },
        "boosting_rounds": trained.rounds,
        **({"refit": trained.refit} if trained.refit is not None else {}),
        "validation_metrics": trained.scores,
        "versions": library_versions(),
        "contract": contract.card(),
    }


def _tracked_params(params: Params) -> dict[str, Any]:
    """The params the model depends on; the backend and the dask section only when it is
    dask (a local model's card and params log are what they were before the Dask backend),
    the refit rule only when the model was refitted (likewise)."""
    train = params.train.model_dump()
    if train["refit"] == "none" or params.train.backend == "dask":  # dask does not refit
        del train["refit"]
    if params.train.backend == "local":
        return {
            "seed": params.seed,
            "train": {k: v for k, v in train.items() if k != "backend"},
            "tfidf": params.tfidf.model_dump(),
        }
    return {
        "seed": params.seed,
        "train": train,
        "tfidf": params.tfidf.model_dump(),
        "dask": params.dask.model_dump(),
    }
