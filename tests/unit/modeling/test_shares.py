"""modeling.shares: the fit rows dealt to the workers by class, whatever the chunking; the
class check before fitting; the per-round losses computed after the fit."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from music_genre.core.errors import DataValidationError
from music_genre.modeling.build import build_pipeline
from music_genre.modeling.chunks import plan_chunks
from music_genre.modeling.shares import (
    _offsets,
    check_classes,
    deal,
    join_share,
)
from music_genre.modeling.statistics import summarize
from support.data import songs_contract
from support.local_cluster import split_file
from support.models import small_model_params


def _shares(path, preprocessor, contract, chunk_rows, workers):
    chunks = plan_chunks(str(path), chunk_rows, ["genre"])
    masks = [np.zeros(chunk.rows, dtype=bool) for chunk in chunks]
    summaries = [
        summarize(chunk, mask, contract) for chunk, mask in zip(chunks, masks, strict=True)
    ]
    classes = sorted({label for summary in summaries for label in summary.labels})
    dealt = [
        deal(
            chunk,
            mask,
            preprocessor=preprocessor,
            contract=contract,
            classes=classes,
            weights={label: 2.0 for label in classes},
            offsets=offsets,
            count=workers,
        )
        for chunk, mask, offsets in zip(
            chunks, masks, _offsets([summary.labels for summary in summaries], classes), strict=True
        )
    ]
    return classes, [join_share(*(pieces[w] for pieces in dealt)) for w in range(workers)]


def test_the_deal_gives_each_worker_its_share_of_every_class_whatever_the_chunking(tmp_path):
    contract, params = songs_contract(), small_model_params()
    path = split_file(tmp_path, rows=1500, row_group=400)
    frame = pd.read_parquet(path)
    preprocessor = build_pipeline(params.train, params.tfidf, contract).named_steps["preprocessor"]
    preprocessor.fit(frame[list(contract.model_input_columns)], frame["genre"])
    classes, shares = _shares(path, preprocessor, contract, 130, 3)
    _, again = _shares(path, preprocessor, contract, 1500, 3)
    counts = frame["genre"].value_counts()
    for index, ((matrix, codes, weights), (other, other_codes, _)) in enumerate(
        zip(shares, again, strict=True)
    ):
        assert sp.isspmatrix_csr(matrix) and (matrix != other).nnz == 0
        np.testing.assert_array_equal(codes, other_codes)
        assert set(weights) == {2.0}
        for code, label in enumerate(classes):
            # The k-th row of a class (table order) goes to worker k mod 3.
            assert (codes == code).sum() == len(range(index, counts[label], 3))
    assert sum(len(share[1]) for share in shares) == len(frame)


def test_a_worker_without_a_class_stops_the_fit_before_it_starts():
    check_classes([(10, [0, 1], 10), (9, [0, 1], 9)], ["a", "b"], ["tcp://w0", "tcp://w1"])
    with pytest.raises(
        DataValidationError,
        match=r"Dask worker tcp://w1 holds 3 fit rows but no row of class 'b': each of the 2 "
        r"workers needs every class",
    ):
        check_classes([(4, [0, 1], 4), (3, [0], 3)], ["a", "b"], ["tcp://w0", "tcp://w1"])
