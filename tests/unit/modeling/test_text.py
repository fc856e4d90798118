"""modeling.text: a TF-IDF vocabulary decided by frequency, then by the term, on any processor."""

import random
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from music_genre.modeling.text import TopTermsTfidfVectorizer, top_terms


def _tied_corpus(seed: int = 0) -> list[str]:
    """300 terms: 'common' in every document, then 299 terms of exactly 5 documents each, so
    any cut-off below 300 falls inside one long tie."""
    terms = [f"t{index:03d}" for index in range(299)]
    documents = [["common"] for _ in range(60)]
    rng = random.Random(seed)
    for term in terms:
        for document in rng.sample(range(60), 5):
            documents[document].append(term)
    return [" ".join(words) for words in documents]


def _document_frequencies(documents: list[str]) -> Counter:
    return Counter(term for document in documents for term in set(document.split()))


def test_top_terms_ranks_by_count_then_by_the_term():
    assert top_terms(["b", "a", "c", "d"], [2, 2, 3, 1], 3) == ["c", "a", "b"]
    assert top_terms(["b", "a"], [1, 1], 5) == ["a", "b"]


@pytest.mark.parametrize("limit", [1, 50, 150, 298])
def test_a_cut_off_inside_a_tie_keeps_the_alphabetically_first_terms(limit):
    documents = _tied_corpus()
    vectorizer = TopTermsTfidfVectorizer(binary=True, max_features=limit).fit(documents)
    frequencies = _document_frequencies(documents)
    expected = sorted(frequencies, key=lambda term: (-frequencies[term], term))[:limit]
    assert sorted(vectorizer.vocabulary_) == sorted(expected)
    # Columns stay in term order, as scikit-learn's are.
    assert list(vectorizer.get_feature_names_out()) == sorted(expected)


def test_the_vocabulary_does_not_depend_on_the_order_of_the_documents():
    documents = _tied_corpus(seed=1)
    shuffled = random.Random(2).sample(documents, len(documents))
    first = TopTermsTfidfVectorizer(binary=True, max_features=77).fit(documents)
    second = TopTermsTfidfVectorizer(binary=True, max_features=77).fit(shuffled)
    assert first.vocabulary_ == second.vocabulary_


def test_transform_and_idf_are_scikit_learns_for_the_chosen_vocabulary():
    documents = _tied_corpus(seed=3)
    ours = TopTermsTfidfVectorizer(binary=True, max_features=40)
    matrix = ours.fit_transform(documents)
    theirs = TfidfVectorizer(binary=True, vocabulary=ours.vocabulary_)
    expected = theirs.fit_transform(documents)
    np.testing.assert_array_equal(ours.idf_, theirs.idf_)
    np.testing.assert_array_equal(matrix.toarray(), expected.toarray())
    np.testing.assert_array_equal(ours.transform(documents[:7]).toarray(), expected[:7].toarray())


def test_without_a_limit_or_below_it_the_vocabulary_is_scikit_learns():
    documents = _tied_corpus(seed=4)
    for limit in (None, 1000):
        ours = TopTermsTfidfVectorizer(binary=True, max_features=limit, min_df=2).fit(documents)
        theirs = TfidfVectorizer(binary=True, max_features=limit, min_df=2).fit(documents)
        assert ours.vocabulary_ == theirs.vocabulary_


def test_document_frequency_pruning_still_applies_before_the_limit():
    documents = [*_tied_corpus(seed=5), "rare"]
    vectorizer = TopTermsTfidfVectorizer(binary=True, max_features=10, max_df=0.9).fit(documents)
    assert "common" not in vectorizer.vocabulary_  # in 60 of 61 documents: over max_df
    assert len(vectorizer.vocabulary_) == 10
