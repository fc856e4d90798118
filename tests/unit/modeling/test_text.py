"""modeling.text: a TF-IDF vocabulary decided by frequency, then by the term, on any processor;
the text statistics, the same for a table and one row."""

import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from music_genre.modeling.text import (
    STATISTICS,
    TextStatistics,
    TopTermsTfidfVectorizer,
    _generic_statistics,
    statistics_rows,
    text_statistics,
    top_terms,
)


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


# --- the statistics block -------------------------------------------------------------------

ASCII_EDGES = ["", " ", "Hello World", "x\x1c\x1f\x0b\t", "(Live) - 2009 Remaster", "a_b!?"]
UNICODE_EDGES = ["Beyoncé", "Ⅻ \uff12 ٣", "ﬁ ß İ", "  spaced\u2003out  ", "😀 [x]"]


@pytest.mark.parametrize("text", ASCII_EDGES + UNICODE_EDGES)
def test_each_statistic_counts_by_pythons_own_character_classes(text):
    chars = len(text)
    expected = (
        float(chars),
        float(len(text.split())),
        sum(c.isupper() for c in text) / (chars + 1),
        float(sum(c.isdigit() for c in text)),
        float(sum(not (c.isalnum() or c.isspace()) for c in text)),
        float(any(c in "()[]{}-" for c in text)),
    )
    assert text_statistics(text) == expected
    assert len(expected) == len(STATISTICS)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_the_ascii_shortcut_counts_what_the_str_methods_count(text):
    assert text_statistics(text) == _generic_statistics(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_text_gets_the_generic_counts(text):
    assert text_statistics(text) == _generic_statistics(text)


def test_the_block_names_each_statistic_after_its_column_and_reads_missing_as_empty():
    frame = pd.DataFrame(
        {
            "title": pd.Series(["Rap (Remix)", None, ""], dtype="str"),
            "song_name": ["a", "B 2", None],
        }
    )
    block = TextStatistics().fit(frame)
    names = list(block.get_feature_names_out())
    assert names[:2] == ["title__chars", "title__words"]
    assert names[-1] == "song_name__brackets" and len(names) == 2 * len(STATISTICS)
    matrix = block.transform(frame)
    assert matrix.shape == (3, 2 * len(STATISTICS)) and matrix.dtype == np.float64
    assert list(matrix[1, : len(STATISTICS)]) == [0.0] * len(STATISTICS)  # None is ''
    assert list(matrix[0, : len(STATISTICS)]) == list(text_statistics("Rap (Remix)"))
    assert list(matrix[2, len(STATISTICS) :]) == [0.0] * len(STATISTICS)
    assert statistics_rows([[], []]).shape == (0, 2 * len(STATISTICS))


def test_the_block_refuses_other_columns_than_it_was_fitted_on():
    block = TextStatistics().fit(pd.DataFrame({"title": ["x"], "song_name": ["y"]}))
    with pytest.raises(ValueError, match=r"expected the columns \['title', 'song_name'\]"):
        block.transform(pd.DataFrame({"song_name": ["y"], "title": ["x"]}))
