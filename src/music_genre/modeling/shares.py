"""The fit rows dealt to the Dask workers, and what is computed on them after the fit.

Each chunk's fit rows are transformed by the fitted preprocessor and dealt to the workers
class by class: the k-th row of a class, in table order, goes to worker k mod W, so every
worker holds about 1/W of every class and the deal does not depend on the chunking. Each
worker's pieces become one share (matrix, labels, weights) held by that worker, the one chunk
LightGBM's Dask code gives its rank. After the fit, the loss of every round is computed on the
shares (the training curve) and on each chunk's validation rows (the validation curve), with
the validation probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from music_genre.core.errors import DataValidationError
from music_genre.modeling.chunks import Chunk, Cluster, PartitionedSplit, read_chunk
from music_genre.modeling.fitting import TRAINING_CURVE, VALIDATION_CURVE
from music_genre.modeling.statistics import Summary, fit_rows

if TYPE_CHECKING:
    import numpy as np

    from music_genre.data.contract import Contract


# Rows scored at once when computing the loss curves (their leaf values are rows x trees).
_CURVE_BATCH: Final = 256


def deal(
    chunk: Chunk,
    mask: Any,
    *,
    preprocessor: Any,
    contract: Contract,
    classes: Sequence[str],
    weights: Mapping[str, float] | None,
    offsets: Sequence[int],
    count: int,
) -> list[tuple[Any, np.ndarray, np.ndarray | None]]:
    """The chunk's fit rows transformed and dealt to `count` workers by class (a task).

    `offsets[c]` is how many rows of class c earlier chunks hold, so the deal follows the
    table's order whatever the chunks are."""
    import numpy as np
    import pandas as pd

    inputs = list(contract.model_input_columns)
    frame = fit_rows(chunk, mask, [*inputs, contract.target])
    matrix = preprocessor.transform(frame[inputs])
    labels = frame[contract.target].astype(str).to_numpy()
    codes = np.searchsorted(np.asarray(classes), labels)
    rank = pd.Series(codes).groupby(codes).cumcount().to_numpy() + np.asarray(offsets)[codes]
    row_weights = None if weights is None else np.asarray([weights[label] for label in labels])
    owner = rank % count
    return [
        (
            matrix[owner == worker],
            codes[owner == worker],
            None if row_weights is None else row_weights[owner == worker],
        )
        for worker in range(count)
    ]


def join_share(*pieces: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """One worker's pieces as one matrix (CSR, as LightGBM's Dask code concatenates),
    labels and weights (a task pinned to that worker)."""
    import numpy as np
    import scipy.sparse as sp

    matrices = [piece[0] for piece in pieces]
    if sp.issparse(matrices[0]):
        matrix = sp.csr_matrix(sp.vstack(matrices, format="csr"))
    else:
        matrix = np.concatenate(matrices)
    weights = None if pieces[0][2] is None else np.concatenate([piece[2] for piece in pieces])
    return matrix, np.concatenate([piece[1] for piece in pieces]), weights


def share_classes(share: tuple[Any, Any, Any]) -> tuple[int, list[int]]:
    """A share's rows and the class codes it holds (a task)."""
    import numpy as np

    return len(share[1]), [int(code) for code in np.unique(share[1])]


def check_classes(
    found: Sequence[tuple[int, list[int]]], classes: Sequence[str], workers: Sequence[str]
) -> None:
    """Every worker holds rows of every class, or one line naming the first class missing."""
    for worker, (rows, codes) in zip(workers, found, strict=True):
        missing = sorted(set(range(len(classes))) - set(codes))
        if missing:
            raise DataValidationError(
                f"Dask worker {worker} holds {rows} fit rows but no row of class "
                f"'{classes[missing[0]]}': each of the {len(workers)} workers needs every class "
                "(LightGBM takes the classes from its own rows); lower dask.workers or add rows "
                "of that class"
            )


def leaf_table(booster: Any) -> np.ndarray:
    """Every tree's leaf values (trees x most leaves), read from the booster's text: they
    carry the learning rate and, in the first trees, the initial score."""
    import numpy as np

    rows = [
        np.array(line.split("=", 1)[1].split(), dtype="float64")
        for line in booster.model_to_string().splitlines()
        if line.startswith("leaf_value=")
    ]
    table = np.zeros((len(rows), max(len(row) for row in rows)))
    for index, row in enumerate(rows):
        table[index, : len(row)] = row
    return table


def round_losses(
    classifier: Any, table: np.ndarray, matrix: Any, codes: np.ndarray, weights: np.ndarray | None
) -> tuple[list[Fraction], Fraction]:
    """Per boosting round, the exact weighted sum of the rows' log loss, and the weights'
    exact sum (a task): LightGBM's multi_logloss (binary: its binary_logloss), round by round.
    Exact sums add up alike however the rows are split between chunks and workers."""
    import numpy as np

    from music_genre.modeling.statistics import ExactSums, exact_sum

    per_round = classifier.booster_.num_model_per_iteration()
    rounds = len(table) // per_round
    weights = np.ones(len(codes)) if weights is None else weights
    total = ExactSums(rounds)
    tree = np.arange(len(table))
    cap = -np.log(1e-15)
    for start in range(0, len(codes), _CURVE_BATCH):
        leaves = classifier.booster_.predict(matrix[start : start + _CURVE_BATCH], pred_leaf=True)
        raw = np.cumsum(table[tree, leaves].reshape(len(leaves), rounds, per_round), axis=1)
        truth = codes[start : start + _CURVE_BATCH]
        if per_round == 1:
            sign = np.where(truth == 1, -1.0, 1.0)[:, None]
            loss = np.logaddexp(0.0, sign * raw[:, :, 0])
        else:
            top = raw.max(axis=2, keepdims=True)
            normal = np.log(np.exp(raw - top).sum(axis=2)) + top[:, :, 0]
            loss = normal - raw[np.arange(len(truth)), :, truth]
        total.add(np.minimum(loss, cap) * weights[start : start + _CURVE_BATCH, None])
    return total.totals(), exact_sum(np.asarray(weights, dtype="float64"))


def _offsets(summaries: Sequence[Summary], classes: Sequence[str]) -> list[list[int]]:
    """Per chunk, per class: the fit rows of that class in the chunks before it."""
    offsets, running = [], [0] * len(classes)
    for summary in summaries:
        offsets.append(list(running))
        running = [
            count + summary.labels.get(label, 0)
            for count, label in zip(running, classes, strict=True)
        ]
    return offsets


def build_shares(
    cluster: Cluster,
    split: PartitionedSplit,
    contract: Contract,
    preprocessor: Any,
    dealing: tuple[list[str], dict[str, float] | None, list[Summary]],
) -> list[Any]:
    """Per worker, a future of its share (matrix, labels, weights), held by that worker."""
    from operator import itemgetter

    classes, weights, summaries = dealing
    client, count = cluster.client, len(cluster.workers)
    shared = client.scatter(preprocessor, broadcast=True)
    dealt = [
        client.submit(
            deal,
            chunk,
            mask,
            preprocessor=shared,
            contract=contract,
            classes=classes,
            weights=weights,
            offsets=offsets,
            count=count,
            pure=False,
        )
        for chunk, mask, offsets in zip(
            split.chunks, split.masks, _offsets(summaries, classes), strict=True
        )
    ]
    shares = []
    for index, worker in enumerate(cluster.workers):
        pieces = [client.submit(itemgetter(index), future, pure=False) for future in dealt]
        shares.append(
            client.submit(
                join_share, *pieces, workers=[worker], allow_other_workers=False, pure=False
            )
        )
    return shares


def as_collections(
    cluster: Cluster, shares: list[Any], sizes: list[int], example: Any
) -> tuple[Any, Any, Any]:
    """The shares as Dask arrays (matrix, labels, weights), one chunk per worker."""
    from operator import itemgetter

    import dask.array as da
    import numpy as np
    import scipy.sparse as sp

    meta = (
        sp.csr_matrix((0, example.shape[1]))
        if sp.issparse(example)
        else np.empty((0, example.shape[1]))
    )
    columns: list[list[Any]] = [[], [], []]
    for share, size, worker in zip(shares, sizes, cluster.workers, strict=True):
        for part, shape in enumerate(((size, example.shape[1]), (size,), (size,))):
            future = cluster.client.submit(
                itemgetter(part), share, workers=[worker], allow_other_workers=False, pure=False
            )
            dtype = "float64" if part != 1 else "int64"
            columns[part].append(
                da.from_delayed(future, shape=shape, dtype=dtype, meta=meta if part == 0 else None)
            )
    matrix, labels, weights = (da.concatenate(parts, axis=0) for parts in columns)
    return matrix, labels, weights


def share_losses(
    share: tuple[Any, Any, Any], pipeline: Any, table: Any
) -> tuple[list[Fraction], Fraction]:
    """The training curve's sums over one worker's share (a task on that worker)."""
    return round_losses(pipeline.named_steps["classifier"], table, *share)


def score_validation(
    chunk: Any, mask: Any, *, pipeline: Any, table: Any, contract: Contract, classes: Sequence[str]
) -> tuple[Any, Any, list[Fraction], Fraction]:
    """The chunk's validation rows: probabilities, labels and the validation curve's sums
    (a task)."""
    import numpy as np

    inputs = list(contract.model_input_columns)
    frame = read_chunk(chunk, [*inputs, contract.target])[mask]
    labels = frame[contract.target].astype(str).to_numpy()
    if not len(frame):
        per_round = len(classes) if len(classes) > 2 else 1
        return (
            np.zeros((0, len(classes))),
            labels,
            [Fraction(0)] * (len(table) // per_round),
            Fraction(0),
        )
    matrix = pipeline.named_steps["preprocessor"].transform(frame[inputs])
    classifier = pipeline.named_steps["classifier"]
    losses, weight = round_losses(
        classifier, table, matrix, np.searchsorted(np.asarray(classes), labels), None
    )
    return classifier.predict_proba(matrix), labels, losses, weight


def evaluate(
    cluster: Cluster,
    split: PartitionedSplit,
    contract: Contract,
    *,
    pipeline: Any,
    shares: list[Any],
    classes: list[str],
) -> tuple[Any, Any, dict[str, list[float]]]:
    """Validation probabilities and labels, and both loss curves, computed on the workers."""
    import numpy as np
    import pandas as pd

    client = cluster.client
    table = client.scatter(leaf_table(pipeline.named_steps["classifier"].booster_), broadcast=True)
    model = client.scatter(pipeline, broadcast=True)
    training = cluster.gather(
        [
            client.submit(
                share_losses,
                share,
                model,
                table,
                workers=[worker],
                allow_other_workers=False,
                pure=False,
            )
            for share, worker in zip(shares, cluster.workers, strict=True)
        ]
    )
    scored_parts = cluster.each(
        score_validation, split, pipeline=model, table=table, contract=contract, classes=classes
    )
    proba = np.vstack([part[0] for part in scored_parts])
    labels = pd.Series(np.concatenate([part[1] for part in scored_parts]), name=contract.target)
    curves = {
        TRAINING_CURVE: _mean_losses([(part[0], part[1]) for part in training]),
        VALIDATION_CURVE: _mean_losses([(part[2], part[3]) for part in scored_parts]),
    }
    return proba, labels, curves


def _mean_losses(parts: Sequence[tuple[list[Fraction], Fraction]]) -> list[float]:
    """Per round, the weighted mean loss over all parts (correctly rounded)."""
    weight = sum((part[1] for part in parts), Fraction(0))
    totals = [sum(column, Fraction(0)) for column in zip(*(part[0] for part in parts), strict=True)]
    return [float(total / weight) for total in totals]
