"""Predictions from a saved model: the same preprocessing as training, in memory or in batches."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_genre.core.errors import DataFileError
from music_genre.data.features import RAW_DTYPES
from music_genre.serving.inputs import SONG_COLUMNS, prepare_songs
from music_genre.serving.limits import BATCH_ROWS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

INPUT_FORMATS = (".parquet", ".csv", ".jsonl")
OUTPUT_FORMATS = (".parquet", ".csv")
PREDICTION_COLUMN = "predicted_genre"
PROBABILITY_PREFIX = "probability_"


PROBE_ROWS = 64
PROBE_SEED = 0


@dataclass(frozen=True)
class Predictor:
    """A loaded model and its card; turns songs (raw columns) into genre probabilities.

    `compiled` is the lean path for validated songs (music_genre.serving.fastpath), checked
    against the pipeline on probe songs when the model is loaded; None means the pipeline's own.
    """

    pipeline: Any
    card: dict[str, Any]
    compiled: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def load(cls, model_path: str | os.PathLike[str], *, lean: bool = True) -> Predictor:
        from music_genre.modeling.store import load_model

        pipeline, card = load_model(model_path)
        compiled = None
        if lean:
            from music_genre.data.synthetic import generate
            from music_genre.serving.fastpath import compile_pipeline

            compiled = compile_pipeline(pipeline, probe=generate(PROBE_ROWS, seed=PROBE_SEED))
        return cls(pipeline, card, compiled)

    def predict_proba_songs(self, songs: list[dict[str, Any]]) -> np.ndarray:
        """Probabilities for validated songs (dicts of the input columns, None = missing)."""
        if self.compiled is not None:
            return self.compiled.predict_proba(songs)
        import pandas as pd

        frame = pd.DataFrame.from_records(songs, columns=list(SONG_COLUMNS))
        frame = frame.astype({name: RAW_DTYPES[name] for name in frame.columns})
        return self.predict_proba(frame, source="request")

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    def predict_proba(self, songs: pd.DataFrame, source: str = "input") -> np.ndarray:
        frame = prepare_songs(songs, source)
        return self.pipeline.predict_proba(frame[self.card["input_columns"]])


def predictions_frame(
    proba: np.ndarray, classes: list[str], with_probabilities: bool
) -> pd.DataFrame:
    import pandas as pd

    from music_genre.modeling.metrics import predicted_labels

    columns: dict[str, Any] = {PREDICTION_COLUMN: predicted_labels(proba, classes)}
    if with_probabilities:
        for index, genre in enumerate(classes):
            columns[f"{PROBABILITY_PREFIX}{genre}"] = proba[:, index]
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
            for batch in pacsv.open_csv(path):
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
                frame = predictions_frame(proba, predictor.classes, with_probabilities)
                if explain is not None:
                    import pandas as pd

                    frame = pd.concat([frame, explain(batch, str(source))], axis=1)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or _open_writer(tmp, output_format, table.schema)
                writer.write_table(table)
                rows += len(batch)
                bar.update(len(batch))
            if writer is None:  # an input with no rows still gets a valid, empty output
                empty = predictions_frame(
                    _empty_proba(len(predictor.classes)), predictor.classes, with_probabilities
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
