"""The lean path for a few songs: the fitted pipeline replayed on numpy arrays, without pandas.

For one song, `Pipeline.predict_proba` spends ~15 ms building and checking pandas frames inside the
ColumnTransformer around a booster that needs ~0.2 ms. This module reads the fitted parameters of
the pipeline that `music_genre.modeling.build.build_pipeline` makes (median imputer and scaler,
most-frequent imputer and ordinal encoder, TF-IDF) and applies the same arithmetic in the same
order, so its probabilities are bit-identical to the pipeline's (tests compare them, and
`compile_pipeline` compares them on probe rows before it is used). A pipeline of any other shape is
not compiled; callers then use the pipeline itself.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from music_genre.core.estimators import ESTIMATORS
from music_genre.data.features import TEXT_COLUMNS, compose_text

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Numeric:
    columns: list[str]
    fill: np.ndarray  # imputer statistics, per column
    mean: np.ndarray | None
    scale: np.ndarray | None


@dataclass(frozen=True)
class _Categorical:
    columns: list[str]
    fill: np.ndarray
    codes: list[dict[Any, float]]  # value -> ordinal code, per column
    unknown: float


@dataclass(frozen=True)
class _Tfidf:
    """TfidfVectorizer(binary=True, norm="l2", use_idf=True) for a few documents, as numpy rows."""

    analyzer: Any
    vocabulary: dict[str, int]
    idf: np.ndarray

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
class CompiledPipeline:
    numeric: _Numeric
    categorical: _Categorical
    tfidf: _Tfidf
    classifier: Any
    booster: Any  # LightGBM's Booster when the classifier is an LGBMClassifier, else None

    def predict_proba(self, songs: list[dict[str, Any]]) -> np.ndarray:
        """Probabilities for validated songs (dicts with every input column, None = missing)."""
        matrix = self.matrix(songs)
        if self.booster is not None:
            return self.booster.predict(matrix)
        return self.classifier.predict_proba(matrix)

    def matrix(self, songs: list[dict[str, Any]]) -> np.ndarray:
        """What the classifier reads: the preprocessed songs, one dense row each."""
        import numpy as np

        numeric = np.array(
            [[_float(song[name]) for name in self.numeric.columns] for song in songs],
            dtype=np.float64,
        )
        missing = np.isnan(numeric)
        if missing.any():
            numeric[missing] = np.broadcast_to(self.numeric.fill, numeric.shape)[missing]
        if self.numeric.mean is not None:
            numeric -= self.numeric.mean
        if self.numeric.scale is not None:
            numeric /= self.numeric.scale
        categorical = np.array(
            [
                [
                    codes.get(
                        self.categorical.fill[j] if song[name] is None else song[name],
                        self.categorical.unknown,
                    )
                    for j, (name, codes) in enumerate(
                        zip(self.categorical.columns, self.categorical.codes, strict=True)
                    )
                ]
                for song in songs
            ],
            dtype=np.float64,
        )
        text = self.tfidf.rows([text_of(song) for song in songs])
        # Dense rather than the pipeline's CSR: the same values, and the trees (LightGBM
        # without zero_as_missing, the forests) read an absent sparse entry as 0.0.
        return np.hstack([numeric, categorical, text])


def text_of(song: dict[str, Any]) -> str:
    """The song's text feature, missing title or song name as '' (as preprocess.add_text_feature
    fills them)."""
    title, song_name = (song.get(column) or "" for column in TEXT_COLUMNS)
    return compose_text(title, song_name)


def _float(value: Any) -> float:
    return float("nan") if value is None else value


def compile_pipeline(pipeline: Any, probe: pd.DataFrame | None = None) -> CompiledPipeline | None:
    """The lean path for `pipeline`, or None when its shape is not the one build_pipeline makes.

    With `probe` (raw songs), the compiled path must reproduce the pipeline's probabilities on
    them exactly, or it is not used.
    """
    try:
        compiled = _compile(pipeline)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        log.info("serving through the sklearn pipeline (%s)", error)
        return None
    if compiled is not None and probe is not None and not _agrees(compiled, pipeline, probe):
        log.warning("the compiled path disagrees with the pipeline; serving through the pipeline")
        return None
    return compiled


def _compile(pipeline: Any) -> CompiledPipeline | None:
    import numpy as np

    preprocessor, classifier = pipeline.named_steps["preprocessor"], pipeline[-1]
    parts = {name: (step, columns) for name, step, columns in preprocessor.transformers_}
    (num_imputer, scaler), num_columns = _two_steps(parts["num"])
    (cat_imputer, encoder), cat_columns = _two_steps(parts["cat"])
    vectorizer = parts["text"][0]
    if not _supported(pipeline, parts):
        return None
    booster = None
    if type(classifier).__name__ == "LGBMClassifier" and len(classifier.classes_) > 2:
        booster = classifier.booster_
    return CompiledPipeline(
        numeric=_Numeric(
            list(num_columns),
            np.asarray(num_imputer.statistics_, dtype=np.float64),
            scaler.mean_ if scaler.with_mean else None,
            scaler.scale_ if scaler.with_std else None,
        ),
        categorical=_Categorical(
            list(cat_columns),
            cat_imputer.statistics_,
            [
                {value.item(): float(code) for code, value in enumerate(categories)}
                for categories in encoder.categories_
            ],
            float(encoder.unknown_value),
        ),
        tfidf=_Tfidf(
            vectorizer.build_analyzer(),
            {term: int(column) for term, column in vectorizer.vocabulary_.items()},
            np.asarray(vectorizer.idf_, dtype=np.float64),
        ),
        classifier=classifier,
        booster=booster,
    )


def _supported(pipeline: Any, parts: dict[str, Any]) -> bool:
    """Is this exactly the pipeline shape build_pipeline makes (the one _compile replays)?"""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler

    if not isinstance(pipeline.named_steps["preprocessor"], ColumnTransformer):
        return False
    classifier = pipeline[-1]
    if not any(
        (type(classifier).__module__.split(".")[0], type(classifier).__name__)
        == (spec.module.split(".")[0], spec.class_name)
        for spec in ESTIMATORS.values()
    ):
        return False
    if len(pipeline.steps) != 2 or set(parts) - {"num", "cat", "text", "remainder"}:
        return False
    if parts.get("remainder", ("drop",))[0] != "drop":
        return False
    (num_imputer, scaler), _ = _two_steps(parts["num"])
    (cat_imputer, encoder), _ = _two_steps(parts["cat"])
    vectorizer = parts["text"][0]
    expected = (SimpleImputer, StandardScaler, SimpleImputer, OrdinalEncoder, TfidfVectorizer)
    steps = (num_imputer, scaler, cat_imputer, encoder, vectorizer)
    return (
        all(type(step) is kind for step, kind in zip(steps[:-1], expected[:-1], strict=True))
        # The vocabulary's choice at fit time may differ (modeling.text); transform may not.
        and isinstance(vectorizer, TfidfVectorizer)
        and type(vectorizer).transform is TfidfVectorizer.transform
        # The imputers leave no missing value for the encoder (its encoded_missing_value).
        and not num_imputer.add_indicator
        and not cat_imputer.add_indicator
        and encoder.handle_unknown == "use_encoded_value"
        and not encoder.min_frequency
        and not encoder.max_categories
        and vectorizer.binary
        and vectorizer.norm == "l2"
        and vectorizer.use_idf
        and not vectorizer.sublinear_tf
        and vectorizer.dtype is np.float64
    )


def _two_steps(part: tuple[Any, Any]) -> tuple[tuple[Any, Any], Any]:
    step, columns = part
    first, second = (estimator for _, estimator in step.steps)
    return (first, second), columns


def _agrees(compiled: CompiledPipeline, pipeline: Any, probe: pd.DataFrame) -> bool:
    import numpy as np

    from music_genre.serving.inputs import SONG_COLUMNS, prepare_songs

    songs = [
        {name: (None if _missing(value) else value) for name, value in row.items()}
        for row in probe[list(SONG_COLUMNS)].to_dict("records")
    ]
    prepared = prepare_songs(probe)
    expected = pipeline.predict_proba(prepared[list(pipeline.feature_names_in_)])
    return bool(np.array_equal(compiled.predict_proba(songs), expected))


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))
