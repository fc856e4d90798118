"""The lean path for a few rows: the fitted pipeline replayed on numpy arrays, without pandas.

For one row, `Pipeline.predict_proba` spends ~15 ms building and checking pandas frames inside the
ColumnTransformer around a booster that needs ~0.2 ms. This module reads the fitted parameters of
the pipeline that `music_genre.modeling.build.build_pipeline` makes for a contract (median imputer
and scaler, most-frequent imputer and ordinal encoder, TF-IDF of the composed text; each block
present when the contract has columns of its kind) and applies the same arithmetic in the same
order, so its probabilities are bit-identical to the pipeline's (tests compare them, and
`compile_pipeline` compares them on probe rows before it is used). Its matrix goes to the
classifier's compiled scorer (music_genre.modeling.compiled) when the model has one, else to
LightGBM's booster or the classifier itself. A pipeline of any other shape is
not compiled; callers then use the pipeline itself.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from music_genre.core.estimators import ESTIMATORS
from music_genre.modeling.build import (
    CATEGORICAL_BLOCK,
    NUMERIC_BLOCK,
    STATISTICS_BLOCK,
    TEXT_BLOCK,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from music_genre.data.contract import Contract
    from music_genre.serving.inputs import RowInputs

log = logging.getLogger(__name__)


class _Block(Protocol):
    def block(self, rows: list[dict[str, Any]]) -> np.ndarray: ...


@dataclass(frozen=True)
class _Numeric:
    columns: list[str]
    fill: np.ndarray  # imputer statistics, per column
    mean: np.ndarray | None
    scale: np.ndarray | None

    def block(self, rows: list[dict[str, Any]]) -> np.ndarray:
        import numpy as np

        numeric = np.array(
            [[_float(row[name]) for name in self.columns] for row in rows], dtype=np.float64
        )
        missing = np.isnan(numeric)
        if missing.any():
            numeric[missing] = np.broadcast_to(self.fill, numeric.shape)[missing]
        if self.mean is not None:
            numeric -= self.mean
        if self.scale is not None:
            numeric /= self.scale
        return numeric


@dataclass(frozen=True)
class _Categorical:
    columns: list[str]
    fill: np.ndarray
    codes: list[dict[Any, float]]  # value -> ordinal code, per column
    unknown: float

    def block(self, rows: list[dict[str, Any]]) -> np.ndarray:
        import numpy as np

        pairs = list(enumerate(zip(self.columns, self.codes, strict=True)))
        return np.array(
            [
                [
                    codes.get(self.fill[j] if row[name] is None else row[name], self.unknown)
                    for j, (name, codes) in pairs
                ]
                for row in rows
            ],
            dtype=np.float64,
        )


@dataclass(frozen=True)
class _Tfidf:
    """TfidfVectorizer(binary=True, norm="l2", use_idf=True) of the composed text of a few rows,
    as numpy rows."""

    contract: Contract
    analyzer: Any
    vocabulary: dict[str, int]
    idf: np.ndarray

    def block(self, rows: list[dict[str, Any]]) -> np.ndarray:
        return self.rows([str(text_of(self.contract, row)) for row in rows])

    def rows(self, documents: list[str]) -> np.ndarray:
        import numpy as np

        matrix = np.zeros((len(documents), len(self.idf)), dtype=np.float64)
        for row, document in enumerate(documents):
            # binary=True: a term counts once; sklearn keeps a row's terms in column order.
            columns = sorted(
                {self.vocabulary[t] for t in self.analyzer(document) if t in self.vocabulary}
            )
            values = [1.0 * self.idf[column] for column in columns]
            # sklearn's l2 normalisation: squares summed one by one in column order, then
            # every value divided by the square root (bit-for-bit the same arithmetic).
            total = 0.0
            for value in values:
                total += value * value
            if total != 0.0:
                norm = math.sqrt(total)
                values = [value / norm for value in values]
            matrix[row, columns] = values
        return matrix


@dataclass(frozen=True)
class _Statistics:
    """modeling.text.TextStatistics of a few rows: the same function on each text."""

    columns: list[str]

    def block(self, rows: list[dict[str, Any]]) -> np.ndarray:
        from music_genre.modeling.text import as_text, statistics_rows

        return statistics_rows([[as_text(row.get(name)) for row in rows] for name in self.columns])


@dataclass(frozen=True)
class CompiledPipeline:
    blocks: tuple[_Block, ...]  # the preprocessor's blocks, in its order
    classifier: Any
    booster: Any  # LightGBM's Booster when the classifier is an LGBMClassifier, else None
    # The compiled scorer (music_genre.modeling.compiled) of the classifier, when it has one.
    scorer: Any = None

    def predict_proba(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Probabilities for validated rows (dicts with every input column, None = missing)."""
        matrix = self.matrix(rows)
        if self.scorer is not None:
            return self.scorer.predict_proba(matrix)
        if self.booster is not None:
            return self.booster.predict(matrix)
        return self.classifier.predict_proba(matrix)

    def matrix(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """What the classifier reads: the preprocessed rows, one dense row each."""
        import numpy as np

        # Dense rather than the pipeline's CSR: the same values, and the trees (LightGBM
        # without zero_as_missing, the forests) read an absent sparse entry as 0.0.
        return np.hstack([block.block(rows) for block in self.blocks])


def text_of(contract: Contract, row: dict[str, Any]) -> str | None:
    """The row's text feature, missing text columns as '' (as contract.with_text_feature fills
    the table's); None when the contract has no text."""
    if contract.text is None:
        return None
    return str(contract.compose_text([row.get(column) or "" for column in contract.text_columns]))


def _float(value: Any) -> float:
    return float("nan") if value is None else value


def compile_pipeline(
    pipeline: Any, inputs: RowInputs, probe: pd.DataFrame | None = None, scorer: Any = None
) -> CompiledPipeline | None:
    """The lean path for `pipeline` (fitted on `inputs.contract`'s columns), or None when its
    shape is not the one build_pipeline makes. With `scorer` (the classifier's compiled
    scorer), it scores the rows with it.

    With `probe` (raw rows), the compiled path must reproduce exactly the probabilities of the
    pipeline's preprocessing and the same classifier (or `scorer`) on them, or it is not used.
    """
    try:
        compiled = _compile(pipeline, inputs.contract)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        log.info("serving through the sklearn pipeline (%s)", error)
        return None
    if compiled is not None and scorer is not None:
        compiled = replace(compiled, scorer=scorer)
    if (
        compiled is not None
        and probe is not None
        and not _agrees(compiled, pipeline, inputs, probe)
    ):
        log.warning("the compiled path disagrees with the pipeline; serving through the pipeline")
        return None
    return compiled


def _compile(pipeline: Any, contract: Contract) -> CompiledPipeline | None:
    from sklearn.compose import ColumnTransformer

    preprocessor, classifier = pipeline.named_steps["preprocessor"], pipeline[-1]
    if not isinstance(preprocessor, ColumnTransformer) or not _supported_pipeline(pipeline):
        return None
    blocks: list[_Block] = []
    for name, step, columns in preprocessor.transformers_:
        if name == "remainder":
            if step != "drop":
                return None
            continue
        block = _block(name, step, columns, contract)
        if block is None:
            return None
        blocks.append(block)
    booster = None
    if type(classifier).__name__ == "LGBMClassifier" and len(classifier.classes_) > 2:
        booster = classifier.booster_
    return CompiledPipeline(tuple(blocks), classifier, booster)


def _block(name: str, step: Any, columns: Any, contract: Contract) -> _Block | None:
    """One fitted block of the preprocessor as numpy arithmetic, None for any other shape."""
    import numpy as np

    if name == NUMERIC_BLOCK and _numeric_shape(step):
        imputer, scaler = (estimator for _, estimator in step.steps)
        return _Numeric(
            list(columns),
            np.asarray(imputer.statistics_, dtype=np.float64),
            scaler.mean_ if scaler.with_mean else None,
            scaler.scale_ if scaler.with_std else None,
        )
    if name == CATEGORICAL_BLOCK and _categorical_shape(step):
        imputer, encoder = (estimator for _, estimator in step.steps)
        return _Categorical(
            list(columns),
            imputer.statistics_,
            [
                {_python(value): float(code) for code, value in enumerate(categories)}
                for categories in encoder.categories_
            ],
            float(encoder.unknown_value),
        )
    if name == TEXT_BLOCK and columns == contract.text_feature and _tfidf_shape(step):
        return _Tfidf(
            contract,
            step.build_analyzer(),
            {term: int(column) for term, column in step.vocabulary_.items()},
            np.asarray(step.idf_, dtype=np.float64),
        )
    if name == STATISTICS_BLOCK and _statistics_shape(step, columns, contract):
        return _Statistics(list(columns))
    return None


def _statistics_shape(step: Any, columns: Any, contract: Contract) -> bool:
    from music_genre.modeling.text import TextStatistics

    return type(step) is TextStatistics and list(columns) == list(contract.text_columns)


def _python(value: Any) -> Any:
    """A category as the API hands it over: numpy scalars as Python numbers, strings as they are."""
    return value.item() if hasattr(value, "item") else value


def _supported_pipeline(pipeline: Any) -> bool:
    classifier = pipeline[-1]
    known = any(
        (type(classifier).__module__.split(".")[0], type(classifier).__name__)
        == (spec.module.split(".")[0], spec.class_name)
        for spec in ESTIMATORS.values()
    )
    return known and len(pipeline.steps) == 2


def _two_steps(step: Any, first: type, second: type) -> bool:
    steps = getattr(step, "steps", None)
    return (
        steps is not None
        and len(steps) == 2
        and type(steps[0][1]) is first
        and type(steps[1][1]) is second
    )


def _numeric_shape(step: Any) -> bool:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    return _two_steps(step, SimpleImputer, StandardScaler) and not step.steps[0][1].add_indicator


def _categorical_shape(step: Any) -> bool:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OrdinalEncoder

    if not _two_steps(step, SimpleImputer, OrdinalEncoder):
        return False
    imputer, encoder = (estimator for _, estimator in step.steps)
    # The imputer leaves no missing value for the encoder (its encoded_missing_value).
    return (
        not imputer.add_indicator
        and encoder.handle_unknown == "use_encoded_value"
        and not encoder.min_frequency
        and not encoder.max_categories
    )


def _tfidf_shape(vectorizer: Any) -> bool:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    return (
        # The vocabulary's choice at fit time may differ (modeling.text); transform may not.
        isinstance(vectorizer, TfidfVectorizer)
        and type(vectorizer).transform is TfidfVectorizer.transform
        and vectorizer.binary
        and vectorizer.norm == "l2"
        and vectorizer.use_idf
        and not vectorizer.sublinear_tf
        and vectorizer.dtype is np.float64
    )


def _agrees(
    compiled: CompiledPipeline, pipeline: Any, inputs: RowInputs, probe: pd.DataFrame
) -> bool:
    import numpy as np

    rows = [
        {name: (None if _missing(value) else value) for name, value in row.items()}
        for row in probe[list(inputs.columns)].to_dict("records")
    ]
    prepared = inputs.prepare(probe)[list(pipeline.feature_names_in_)]
    if compiled.scorer is not None:
        expected = compiled.scorer.predict_proba(pipeline[:-1].transform(prepared))
    else:
        expected = pipeline.predict_proba(prepared)
    return bool(np.array_equal(compiled.predict_proba(rows), expected))


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))
