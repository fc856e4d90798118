"""The rows dealt to the Dask workers, and the validation probabilities after the fit.

Each chunk's rows are transformed by the fitted preprocessor and dealt to the workers class by
class: the k-th row of a class, in table order, goes to worker k mod W, so every worker holds
about 1/W of every class and the deal does not depend on the chunking. Each worker's pieces
become one share (matrix, labels, weights) held by that worker: the one chunk LightGBM's Dask
code gives its rank. The fit rows make the training shares, the validation rows the evaluation
set each worker scores every round (modeling.dask_booster combines the workers' curves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from music_genre.core.errors import DataValidationError
from music_genre.modeling.build import block_columns
from music_genre.modeling.chunks import Chunk, Cluster, PartitionedSplit, read_chunk
from music_genre.modeling.statistics import Summary, exact_sum

if TYPE_CHECKING:
    import numpy as np

    from music_genre.data.contract import Contract


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
    validation: bool = False,
) -> list[tuple[Any, np.ndarray, np.ndarray | None]]:
    """The chunk's fit rows (mask False; with `validation`, its validation rows), transformed
    and dealt to `count` workers by class (a task).

    `offsets[c]` is how many such rows of class c earlier chunks hold, so the deal follows
    the table's order whatever the chunks are."""
    import numpy as np
    import pandas as pd

    inputs = block_columns(preprocessor, contract.model_input_columns)
    frame = read_chunk(chunk, [*inputs, contract.target])[mask if validation else ~mask]
    frame = frame.reset_index(drop=True)
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


def share_classes(share: tuple[Any, Any, Any]) -> tuple[int, list[int], Fraction]:
    """A share's rows, the class codes it holds and the exact sum of its weights (a task)."""
    import numpy as np

    weights = np.ones(len(share[1])) if share[2] is None else share[2]
    return len(share[1]), [int(code) for code in np.unique(share[1])], exact_sum(weights)


def check_classes(
    found: Sequence[tuple[int, list[int], Any]], classes: Sequence[str], workers: Sequence[str]
) -> None:
    """Every worker holds rows of every class, or one line naming the first class missing."""
    for worker, (rows, codes, _) in zip(workers, found, strict=True):
        missing = sorted(set(range(len(classes))) - set(codes))
        if missing:
            raise DataValidationError(
                f"Dask worker {worker} holds {rows} fit rows but no row of class "
                f"'{classes[missing[0]]}': each of the {len(workers)} workers needs every class "
                "(LightGBM takes the classes from its own rows); lower dask.workers or add rows "
                "of that class"
            )


def _offsets(counts: Sequence[Mapping[str, int]], classes: Sequence[str]) -> list[list[int]]:
    """Per chunk, per class: the rows of that class in the chunks before it."""
    offsets, running = [], [0] * len(classes)
    for labels in counts:
        offsets.append(list(running))
        running = [
            count + labels.get(label, 0) for count, label in zip(running, classes, strict=True)
        ]
    return offsets


def build_shares(
    cluster: Cluster,
    split: PartitionedSplit,
    contract: Contract,
    preprocessor: Any,
    dealing: tuple[list[str], dict[str, float] | None, list[Summary]],
    *,
    validation: bool = False,
) -> list[Any]:
    """Per worker, a future of its share (matrix, labels, weights) of the fit rows (or of the
    validation rows, unweighted), held by that worker."""
    from operator import itemgetter

    classes, weights, summaries = dealing
    client, count = cluster.client, len(cluster.workers)
    # hash=False: a key of its own. Scattered twice (the fit and the validation shares), the
    # same object would get one content-hashed key, which the first caller's release can drop
    # while the second one's tasks still need it ("lost dependencies").
    shared = client.scatter(preprocessor, broadcast=True, hash=False)
    counts = [part.validation_labels if validation else part.labels for part in summaries]
    dealt = [
        client.submit(
            deal,
            chunk,
            mask,
            preprocessor=shared,
            contract=contract,
            classes=classes,
            weights=None if validation else weights,
            offsets=offsets,
            count=count,
            validation=validation,
            pure=False,
        )
        for chunk, mask, offsets in zip(
            split.chunks, split.masks, _offsets(counts, classes), strict=True
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


def score_validation(
    chunk: Any, mask: Any, *, pipeline: Any, contract: Contract, classes: Sequence[str]
) -> tuple[Any, Any]:
    """The chunk's validation rows: the model's probabilities and the labels (a task)."""
    import numpy as np

    inputs = block_columns(pipeline.named_steps["preprocessor"], contract.model_input_columns)
    frame = read_chunk(chunk, [*inputs, contract.target])[mask]
    labels = frame[contract.target].astype(str).to_numpy()
    if not len(frame):
        return np.zeros((0, len(classes))), labels
    return pipeline.predict_proba(frame[inputs]), labels


def validation_scores(
    cluster: Cluster, split: PartitionedSplit, contract: Contract, pipeline: Any
) -> tuple[Any, Any]:
    """The validation rows' probabilities and labels, in table order, computed on the
    workers."""
    import numpy as np
    import pandas as pd

    classes = [str(name) for name in pipeline.named_steps["classifier"].classes_]
    model = cluster.client.scatter(pipeline, broadcast=True, hash=False)
    parts = cluster.each(
        score_validation, split, pipeline=model, contract=contract, classes=classes
    )
    proba = np.vstack([part[0] for part in parts])
    return proba, pd.Series(np.concatenate([part[1] for part in parts]), name=contract.target)
