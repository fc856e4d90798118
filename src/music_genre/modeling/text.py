"""The text block's vectorizer: TF-IDF whose vocabulary does not depend on the processor.

scikit-learn's `max_features` keeps the most frequent terms by an unstable numpy argsort, and
numpy picks its sort by the CPU it finds (AVX-512, AVX2 or baseline kernels), so terms tied in
frequency at the cut-off were kept or dropped depending on the machine: the same data and
params trained a different model on another processor. Here the rule is explicit: the
`max_features` terms of highest corpus frequency, ties broken by the term itself (the
alphabetically first is kept). Everything else is scikit-learn's TfidfVectorizer unchanged
(transform, idf, the pickled state), so serving and explanations treat it as one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


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
