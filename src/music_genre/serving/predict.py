"""Predictions from a saved model: the same preprocessing as training, in memory or in batches.

A model carries its data contract in its card (key "contract", written by the train stage), so
predictions need no project around the model: the contract names the input columns, the
prediction column (`predicted_<target>`) and the probability columns (`probability_<class>`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from music_genre.core.errors import DataFileError
from music_genre.data.contract import Contract, load_contract, parse_contract
from music_genre.serving.inputs import RowInputs
from music_genre.serving.limits import BATCH_ROWS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

INPUT_FORMATS: Final = (".parquet", ".csv", ".jsonl")
OUTPUT_FORMATS: Final = (".parquet", ".csv")
# The model card's key for the contract the model was trained on.
CONTRACT_KEY: Final = "contract"
PROBE_ROWS: Final = 64
PROBE_SEED: Final = 0

log = logging.getLogger(__name__)


def card_contract(card: dict[str, Any], where: str = "model card") -> Contract:
    """The contract a model card carries; a card written before models carried one gets the
    project's (load_contract: $MUSIC_GENRE_CONTRACT or ./contract.yaml)."""
    raw = card.get(CONTRACT_KEY)
    if raw is None:
        log.info("%s has no contract: using the project's", where)
        return load_contract()
    return parse_contract(raw, f"{where}: {CONTRACT_KEY}")


@dataclass(frozen=True)
class Predictor:
    """A loaded model and its card; turns rows (raw columns) into class probabilities.

    `scorer` is the compiled scorer of a boosted-tree model (music_genre.modeling.compiled),
    `compiled` the lean path for validated rows (music_genre.serving.fastpath, which scores
    with `scorer` when there is one); both are checked against the pipeline on probe rows
    when the model is loaded. None means the pipeline's own.
    """

    pipeline: Any
    card: dict[str, Any]
    compiled: Any = field(default=None, compare=False, repr=False)
    scorer: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def load(
        cls, model_path: str | os.PathLike[str], *, lean: bool = True, scorer: bool = True
    ) -> Predictor:
        from music_genre.modeling.store import card_path_for, load_model

        pipeline, card = load_model(model_path)
        contract = card_contract(card, str(card_path_for(model_path)))
        inputs, probe = RowInputs.of(contract), _probe(contract)
        compiled_scorer = _checked_scorer(pipeline, card, inputs, probe) if scorer else None
        compiled = None
        if lean:
            from music_genre.serving.fastpath import compile_pipeline

            compiled = compile_pipeline(pipeline, inputs, probe=probe, scorer=compiled_scorer)
        return cls(pipeline, card, compiled, compiled_scorer)

    def with_threads(self, threads: int) -> Predictor:
        """The same predictor, its compiled scorer splitting large batches between `threads`."""
        if self.scorer is None:
            return self
        return replace(self, scorer=self.scorer.with_threads(threads))

    @cached_property
    def contract(self) -> Contract:
        """The data contract the model was trained on (its card's)."""
        return card_contract(self.card)

    @cached_property
    def inputs(self) -> RowInputs:
        """What the model takes for one row: the API's row models, made from the contract."""
        return RowInputs.of(self.contract)

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    def predict_proba_rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Probabilities for validated rows (dicts of the input columns, None = missing)."""
        if self.compiled is not None:
            return self.compiled.predict_proba(rows)
        return self.predict_proba(self.inputs.frame(rows), source="request")

    def predict_proba(self, rows: pd.DataFrame, source: str = "input") -> np.ndarray:
        frame = self.inputs.prepare(rows, source)[self.card["input_columns"]]
        if self.scorer is not None:
            return self.scorer.predict_proba(self.features.transform(frame))
        return self.pipeline.predict_proba(frame)

    @cached_property
    def features(self) -> Any:
        """The pipeline without its classifier: what turns prepared rows into the matrix the
        classifier (and the compiled scorer) reads."""
        return self.pipeline[:-1]

    def predictions_frame(self, proba: np.ndarray, with_probabilities: bool) -> pd.DataFrame:
        """The prediction column, and with `with_probabilities` one column per class."""
        return predictions_frame(proba, self.classes, with_probabilities, self.contract)


def _checked_scorer(
    pipeline: Any, card: dict[str, Any], inputs: RowInputs, probe: pd.DataFrame
) -> Any:
    """The compiled scorer of the pipeline's classifier if it predicts the probe rows as the
    pipeline does (to TOLERANCE, the same classes); None, after one log line, if not."""
    from music_genre.modeling.compiled import compile_scorer, disagreement

    scorer = compile_scorer(pipeline[-1], model_sha256=card.get("model_sha256"))
    if scorer is None:
        return None
    features = inputs.prepare(probe)[card["input_columns"]]
    problem = disagreement(
        scorer.predict_proba(pipeline[:-1].transform(features)), pipeline.predict_proba(features)
    )
    if problem is not None:
        log.warning("the compiled scorer %s on probe rows: scoring with the model's own", problem)
        return None
    return scorer


def _probe(contract: Contract) -> pd.DataFrame:
    """Rows of the contract's table (generated from the contract alone) that the lean path must
    predict exactly as the pipeline does."""
    from music_genre.data.synthetic import generate

    return generate(PROBE_ROWS, PROBE_SEED, contract)


def predictions_frame(
    proba: np.ndarray, classes: list[str], with_probabilities: bool, contract: Contract
) -> pd.DataFrame:
    import pandas as pd

    from music_genre.modeling.metrics import predicted_labels

    columns: dict[str, Any] = {contract.prediction_column: predicted_labels(proba, classes)}
    if with_probabilities:
        for index, label in enumerate(classes):
            columns[contract.probability_column(label)] = proba[:, index]
    return pd.DataFrame(columns)


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise DataFileError(
            f"{path}: unsupported {what} format '{suffix}' (expected one of {', '.join(allowed)})"
        )
    return suffix


def count_rows(path: Path) -> int | None:
    """Row count when it is cheap to know (parquet metadata); None otherwise."""
    if path.suffix.lower() != ".parquet":
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError):
        return None  # read_batches reports what is wrong with the file


def read_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """Stream an input table in batches of at most `batch_rows` rows, in file order."""
    import pyarrow as pa

    suffix = _suffix(path, INPUT_FORMATS, "input")
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
                yield batch.to_pandas()
        elif suffix == ".csv":
            import pyarrow.csv as pacsv

            pending: list[pd.DataFrame] = []
            # An empty cell is a missing value, in a string column too (a category left out).
            convert = pacsv.ConvertOptions(strings_can_be_null=True)
            for batch in pacsv.open_csv(path, convert_options=convert):
                yield from _rechunk(batch.to_pandas(), batch_rows, pending)
            yield from _flush(pending)
        else:
            import pandas as pd

            with pd.read_json(path, lines=True, chunksize=batch_rows) as reader:
                yield from reader
    except (pa.ArrowException, ValueError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataFileError(f"{path}: not a readable {suffix[1:]} table ({reason})") from None


def _rechunk(frame: pd.DataFrame, rows: int, pending: list[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    pending.append(frame)
    combined = pd.concat(pending, ignore_index=True)
    pending.clear()
    while len(combined) >= rows:
        yield combined.iloc[:rows].reset_index(drop=True)
        combined = combined.iloc[rows:]
    if len(combined):
        pending.append(combined)


def _flush(pending: list[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    if pending:
        yield pd.concat(pending, ignore_index=True)


def predict_file(
    predictor: Predictor,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    with_probabilities: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress: bool | None = None,
    explain: Callable[[pd.DataFrame, str], pd.DataFrame] | None = None,
) -> int:
    """Predict every row of `input_path` into `output_path`; return the number of rows.

    `explain` (serving.explain's Explainer.columns_of) adds its columns for each batch. The
    output appears only when every batch succeeded (temporary file, then rename).
    """
    import sys

    import pyarrow as pa
    from tqdm import tqdm

    from music_genre.core.fileio import atomic_path
    from music_genre.modeling.threads import resolve_threads

    # A batch job has this process's cores to itself: the scorer may use each of them.
    predictor = predictor.with_threads(resolve_threads(0))
    source, target = Path(input_path), Path(output_path)
    output_format = _suffix(target, OUTPUT_FORMATS, "output")
    show = sys.stderr.isatty() if progress is None else progress
    rows = 0
    writer = None
    with (
        atomic_path(target) as tmp,
        tqdm(total=count_rows(source), unit="rows", disable=not show) as bar,
    ):
        try:
            for batch in read_batches(source, batch_rows):
                proba = predictor.predict_proba(batch, source=str(source))
                frame = predictor.predictions_frame(proba, with_probabilities)
                if explain is not None:
                    import pandas as pd

                    frame = pd.concat([frame, explain(batch, str(source))], axis=1)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or _open_writer(tmp, output_format, table.schema)
                writer.write_table(table)
                rows += len(batch)
                bar.update(len(batch))
            if writer is None:  # an input with no rows still gets a valid, empty output
                empty = predictor.predictions_frame(
                    _empty_proba(len(predictor.classes)), with_probabilities
                )
                writer = _open_writer(
                    tmp, output_format, pa.Table.from_pandas(empty, preserve_index=False).schema
                )
        finally:
            if writer is not None:
                writer.close()
    return rows


def _empty_proba(n_classes: int) -> np.ndarray:
    import numpy as np

    return np.zeros((0, n_classes))


def _open_writer(path: Path, output_format: str, schema: Any) -> Any:
    if output_format == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(path, schema)
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(path, schema)
