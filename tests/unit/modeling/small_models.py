"""Small models of each estimator on synthetic tables, fitted by the real modeling code; the
songs contract and other contracts (no text, one text column, no groups, three classes)."""

from pathlib import Path

from music_genre.core.params import load_params
from music_genre.data.contract import Contract, load_contract
from music_genre.data.splits import stratified_split
from music_genre.data.synthetic import generate
from music_genre.modeling.build import build_pipeline
from music_genre.modeling.fitting import Validation, fit
from music_genre.pipeline.preprocess import preprocess

ROOT = Path(__file__).resolve().parents[3]
PARAMS = load_params(ROOT / "params.yaml")
SONGS = load_contract(ROOT / "contract.yaml")
COLUMNS = list(SONGS.model_input_columns)
TARGET = SONGS.target
# Three classes, string categoricals (one nullable), nullable numbers, no text, no groups.
PENGUINS = load_contract(ROOT / "examples" / "penguins" / "contract.yaml")
SMALL_FOREST = {"n_estimators": 20, "max_depth": 8, "random_state": 0, "n_jobs": 2}


def with_text(contract: Contract, *columns: str, name: str = "notes_text") -> Contract:
    """`contract` with text columns (nullable strings) composed into the text feature `name`."""
    card = contract.card()
    card["columns"] = [
        *card["columns"],
        *({"name": column, "role": "text", "dtype": "str", "nullable": True} for column in columns),
    ]
    return Contract.model_validate({**card, "text": {"name": name, "columns": list(columns)}})


def prepared_table(contract: Contract, rows: int = 600, seed: int = 3):
    """A preprocessed synthetic table of `contract` (from the contract alone)."""
    return preprocess(generate(rows, seed, contract), contract)


def small_train_params(**forest):
    return PARAMS.train.model_copy(
        update={"model": "random_forest", "random_forest": {**SMALL_FOREST, **forest}}
    )


def fitted(frame, contract: Contract = SONGS, **forest):
    """A small random forest fitted on `frame`."""
    pipeline = build_pipeline(small_train_params(**forest), PARAMS.tfidf, contract)
    inputs = list(contract.model_input_columns)
    return fit(pipeline, frame[inputs], frame[contract.target], "random_forest")


def lightgbm_train_params(**arguments):
    small = {**PARAMS.train.lightgbm, "n_estimators": 40, **arguments}
    return PARAMS.train.model_copy(update={"model": "lightgbm", "lightgbm": small})


def fitted_lightgbm(frame, threads=1, callbacks=(), contract: Contract = SONGS, **arguments):
    """The default estimator, small, with early stopping on a held-out validation part."""
    fit_part, held_out = stratified_split(frame, contract, 0.3, 0, what="validation")
    pipeline = build_pipeline(lightgbm_train_params(**arguments), PARAMS.tfidf, contract)
    inputs, target = list(contract.model_input_columns), contract.target
    return fit(
        pipeline,
        fit_part[inputs],
        fit_part[target],
        "lightgbm",
        threads,
        validation=Validation(held_out[inputs], held_out[target]),
        callbacks=callbacks,
    )
