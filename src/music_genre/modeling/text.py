"""The text blocks: TF-IDF whose vocabulary does not depend on the processor, and statistics of
each text column.

TF-IDF.

scikit-learn's `max_features` keeps the most frequent terms by an unstable numpy argsort, and
numpy picks its sort by the CPU it finds (AVX-512, AVX2 or baseline kernels), so terms tied in
frequency at the cut-off were kept or dropped depending on the machine: the same data and
params trained a different model on another processor. Here the rule is explicit: the
`max_features` terms of highest corpus frequency, ties broken by the term itself (the
alphabetically first is kept). Everything else is scikit-learn's TfidfVectorizer unchanged
(transform, idf, the pickled state), so serving and explanations treat it as one.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

# What TextStatistics measures of each text column, in its output order (`<column>__<name>`).
STATISTICS: Final = ("chars", "words", "capitals", "digits", "punctuation", "brackets")
_BRACKETS: Final = frozenset("()[]{}-")


def top_terms(terms: list[str], counts: Any, limit: int) -> list[str]:
    """The `limit` terms of highest count; ties go to the alphabetically first term.

    `terms[i]` is counted `counts[i]` times. The order is total (terms are unique), so no sort
    algorithm, stable or not, can change the answer.
    """
    ranked = sorted(
        zip(terms, (int(count) for count in counts), strict=True),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return [term for term, _ in ranked[:limit]]


class TopTermsTfidfVectorizer(TfidfVectorizer):
    """TfidfVectorizer whose `max_features` keeps the most frequent terms, ties by the term."""

    def _limit_features(
        self,
        X: Any,  # noqa: N803 (scikit-learn's name)
        vocabulary: dict[str, int],
        high: float | None = None,
        low: float | None = None,
        limit: int | None = None,
    ) -> Any:
        # scikit-learn's own pruning by document frequency (max_df, min_df), with no limit;
        # it renumbers `vocabulary` in place to the columns it keeps.
        X = super()._limit_features(X, vocabulary, high, low, None)  # noqa: N806
        if limit is None or X.shape[1] <= limit:
            return X
        terms = sorted(vocabulary, key=vocabulary.__getitem__)  # terms[column]
        kept = set(top_terms(terms, np.asarray(X.sum(axis=0)).ravel(), limit))
        columns = [column for column, term in enumerate(terms) if term in kept]
        for term in terms:
            if term not in kept:
                del vocabulary[term]
        # The kept terms keep their relative (alphabetical) order, as scikit-learn's do.
        for new, column in enumerate(columns):
            vocabulary[terms[column]] = new
        return X[:, columns]


def _ascii_class(predicate: Any) -> bytes:
    """The ASCII bytes whose character `predicate` (a str method) accepts, by Python's rule."""
    return bytes(code for code in range(128) if predicate(chr(code)))


_ASCII_UPPER: Final = _ascii_class(str.isupper)
_ASCII_DIGITS: Final = _ascii_class(str.isdigit)
_ASCII_OTHER: Final = _ascii_class(lambda c: c.isalnum() or c.isspace())


def _generic_statistics(text: str) -> tuple[float, ...]:
    """text_statistics by the str methods alone (what its ASCII shortcut is tested against)."""
    chars = len(text)
    return (
        float(chars),
        float(len(text.split())),
        sum(map(str.isupper, text)) / (chars + 1),
        float(sum(map(str.isdigit, text))),
        float(chars - sum(1 for c in text if c.isalnum() or c.isspace())),
        float(not _BRACKETS.isdisjoint(text)),
    )


def text_statistics(text: str) -> tuple[float, ...]:
    """STATISTICS of one text, in order: its characters, words (split on whitespace), the share
    of capitals (over characters + 1, so an empty text is 0), digits, punctuation (neither
    letter, digit nor space) and whether it has a bracket or a dash (0 or 1).

    Python's str methods decide each character's class, for a table and for one row alike
    (serving's lean path calls this function too). An ASCII text is counted by deleting byte
    classes made from those same methods, which is the same count, 2-3x faster (tested).
    """
    if not text.isascii():
        return _generic_statistics(text)
    chars, raw = len(text), text.encode("ascii")
    return (
        float(chars),
        float(len(text.split())),
        (chars - len(raw.translate(None, _ASCII_UPPER))) / (chars + 1),
        float(chars - len(raw.translate(None, _ASCII_DIGITS))),
        float(len(raw.translate(None, _ASCII_OTHER))),
        float(not _BRACKETS.isdisjoint(text)),
    )


def as_text(value: Any) -> str:
    """A text cell as a string: missing (None, NaN, pandas' NA) is ''."""
    return value if isinstance(value, str) else ""


class TextStatistics(TransformerMixin, BaseEstimator):
    """STATISTICS of each text column: a stateless block beside TF-IDF (tfidf.statistics).

    It reads a frame of the contract's text columns and writes, per column in order, one float
    per statistic; a missing text is ''. `get_feature_names_out` names them
    `<column>__<statistic>`, so explanations and importances give them to their column.
    """

    def fit(self, X: Any, y: Any = None) -> TextStatistics:  # noqa: N803 (scikit-learn's name)
        self.columns_ = [str(column) for column in X.columns]
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: Any) -> np.ndarray:  # noqa: N803
        if [str(column) for column in X.columns] != self.columns_:
            raise ValueError(
                f"text statistics: expected the columns {self.columns_}, got {list(X.columns)}"
            )
        return statistics_rows([[as_text(value) for value in X[c]] for c in self.columns_])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(
            [f"{column}__{name}" for column in self.columns_ for name in STATISTICS], dtype=object
        )


def statistics_rows(columns: list[list[str]]) -> np.ndarray:
    """The statistics block of texts given column by column (`columns[j][i]`: row i's text in
    column j): one row per text row, STATISTICS per column."""
    rows = len(columns[0]) if columns else 0
    matrix = np.empty((rows, len(STATISTICS) * len(columns)), dtype=np.float64)
    width = len(STATISTICS)
    for j, texts in enumerate(columns):
        if texts:
            matrix[:, j * width : (j + 1) * width] = [text_statistics(text) for text in texts]
    return matrix
