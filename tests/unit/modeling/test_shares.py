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
    leaf_table,
    round_losses,
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
        for chunk, mask, offsets in zip(chunks, masks, _offsets(summaries, classes), strict=True)
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
    check_classes([(10, [0, 1]), (9, [0, 1])], ["a", "b"], ["tcp://w0", "tcp://w1"])
    with pytest.raises(
        DataValidationError,
        match=r"Dask worker tcp://w1 holds 3 fit rows but no row of class 'b': each of the 2 "
        r"workers needs every class",
    ):
        check_classes([(4, [0, 1]), (3, [0])], ["a", "b"], ["tcp://w0", "tcp://w1"])


@pytest.mark.parametrize("classes", [2, 4])
def test_round_losses_are_the_log_loss_of_each_round(classes):
    from lightgbm import LGBMClassifier
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(classes)
    features = rng.normal(size=(600, 5))
    labels = (features[:, 0] * 2 + features[:, 1] + rng.normal(size=600) > 0).astype(int)
    if classes == 4:
        labels = labels + 2 * (features[:, 2] > 0)
    model = LGBMClassifier(n_estimators=25, num_leaves=7, verbose=-1).fit(features, labels)
    weights = rng.uniform(0.5, 2.0, size=600)
    table = leaf_table(model.booster_)
    totals, weight = round_losses(model, table, sp.csr_matrix(features), labels, weights)
    assert float(weight) == pytest.approx(weights.sum())
    for rounds in (1, 10, 25):
        proba = model.predict_proba(features, num_iteration=rounds)
        expected = log_loss(labels, proba, sample_weight=weights)
        assert float(totals[rounds - 1] / weight) == pytest.approx(expected, rel=1e-9)
    # Exact sums: any split of the rows adds up to the same numbers.
    halves = [
        round_losses(model, table, sp.csr_matrix(features[part]), labels[part], weights[part])
        for part in (slice(0, 137), slice(137, None))
    ]
    assert [a + b for a, b in zip(halves[0][0], halves[1][0], strict=True)] == totals
    assert halves[0][1] + halves[1][1] == weight
