"""The compiled scorer: a boosted-tree classifier's probabilities from native code.

The trees of the model (music_genre.modeling.forest) are the data of one generic kernel
(music_genre.modeling.kernel: built once per machine with the system's C compiler and cached),
so a new model needs no compiler run. Where the kernel is neither cached nor buildable, or for
a model it cannot score exactly (forest.UnsupportedModelError), `compile_scorer` logs one line
and returns None: callers then score with the model's own predictor. MUSIC_GENRE_SCORER=booster
chooses that predictor outright.

Its probabilities are LightGBM's to the last bit (the same trees, sums in the same order, the
same softmax) and scikit-learn's HistGradientBoosting's within rounding; Predictor.load checks
them against the model on probe rows before using it. It takes the model's feature matrix as
CSR (what the column transformer gives) or dense rows, unchanged: the kernel transposes each
block of rows itself.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import logging
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from music_genre.modeling import forest as forest_module
from music_genre.modeling.forest import Forest, UnsupportedModelError, check_kind, forest_of
from music_genre.modeling.kernel import KernelUnavailableError, MgForest, load_kernel

if TYPE_CHECKING:
    import numpy as np

SCORER_ENV: Final = "MUSIC_GENRE_SCORER"
COMPILED: Final = "compiled"
BOOSTER: Final = "booster"
# How far its probabilities may be from the model's (they are LightGBM's exactly).
TOLERANCE: Final = 1e-9
# Forests of fewer trees are read from the model in milliseconds and not cached (thousands of
# trees take most of a second to read, milliseconds from the cache).
FOREST_CACHE_TREES: Final = 1000
# A batch of at least this many rows per thread is split between threads.
ROWS_PER_THREAD: Final = 4096

log = logging.getLogger(__name__)


# The kernel's arrays and their C types (forest_kernel.c: mg_forest).
_POINTERS: Final = {
    "node_start": "int32",
    "feature": "int32",
    "threshold": "float64",
    "nan_left": "uint8",
    "left_leaves": "uint64",
    "left": "int32",
    "right": "int32",
    "walked": "uint8",
    "leaf_start": "int32",
    "leaf_value": "float64",
    "init": "float64",
}


@dataclass(frozen=True)
class CompiledScorer:
    """Probabilities of a forest's classifier for a matrix of its input features (dense or
    CSR; the layout is passed to the kernel as it is)."""

    forest: Forest
    library: Any = field(repr=False)
    threads: int = 1
    _struct: MgForest = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        forest = self.forest
        for name, dtype in _POINTERS.items():
            array = getattr(forest, name)
            # The kernel reads raw memory: anything else would be read wrong, or out of bounds.
            if array.dtype != dtype or not array.flags.c_contiguous:
                raise ValueError(f"forest.{name}: {array.dtype} array, expected contiguous {dtype}")
        if len(forest.node_start) != forest.n_trees + 1 or len(forest.leaf_start) != len(
            forest.node_start
        ):
            raise ValueError("forest: node_start and leaf_start need one entry per tree, plus one")
        forest.check()
        struct = MgForest(
            n_trees=forest.n_trees,
            n_outputs=forest.n_outputs,
            n_features=forest.n_features,
            link=forest.link,
            zero_band=int(forest.zero_band),
            sigmoid=forest.sigmoid,
            **{name: getattr(forest, name).ctypes.data for name in _POINTERS},
        )
        object.__setattr__(self, "_struct", struct)

    def with_threads(self, threads: int) -> CompiledScorer:
        return CompiledScorer(self.forest, self.library, max(1, threads))

    def predict_proba(self, matrix: Any) -> np.ndarray:
        """(n, classes) probabilities, as the classifier's predict_proba gives them."""
        import numpy as np

        out = self.raw_link(matrix)
        if self.forest.binary:
            return np.column_stack([1.0 - out[:, 0], out[:, 0]])
        return out

    def raw_link(self, matrix: Any) -> np.ndarray:
        """The kernel's output: each output's linked raw score (n, outputs)."""
        import numpy as np
        import scipy.sparse as sp

        width = self.forest.n_features
        if matrix.shape[1] != width:
            raise ValueError(f"the model reads {width} features, the matrix has {matrix.shape[1]}")
        n = matrix.shape[0]
        out = np.empty((n, self.forest.n_outputs), dtype=np.float64)
        if sp.issparse(matrix):
            run = self._csr_runner(matrix)
        else:
            run = self._dense_runner(np.ascontiguousarray(matrix, dtype=np.float64))
        chunks = _chunks(n, self.threads)
        if len(chunks) == 1:
            run(0, n, out)
        else:  # ctypes releases the GIL while the kernel runs
            with ThreadPoolExecutor(len(chunks)) as pool:
                list(pool.map(lambda chunk: run(*chunk, out), chunks))
        return out

    def _dense_runner(self, dense: np.ndarray) -> Any:
        width = dense.shape[1]

        def run(start: int, stop: int, out: np.ndarray) -> None:
            status = self.library.mg_score_dense(
                ctypes.byref(self._struct),
                dense.ctypes.data + start * width * 8,
                stop - start,
                width,
                out.ctypes.data + start * out.shape[1] * 8,
            )
            _check(status)

        return run

    def _csr_runner(self, matrix: Any) -> Any:
        import numpy as np

        csr = matrix.tocsr()
        if not csr.has_canonical_format:
            csr = csr.copy()
            csr.sum_duplicates()
        indptr = np.ascontiguousarray(csr.indptr, dtype=np.int64)
        indices = np.ascontiguousarray(csr.indices, dtype=np.int32)
        data = np.ascontiguousarray(csr.data, dtype=np.float64)

        def run(start: int, stop: int, out: np.ndarray) -> None:
            status = self.library.mg_score_csr(
                ctypes.byref(self._struct),
                indptr.ctypes.data + start * 8,
                indices.ctypes.data,
                data.ctypes.data,
                stop - start,
                out.ctypes.data + start * out.shape[1] * 8,
            )
            _check(status)

        return run


def _check(status: int) -> None:
    if status != 0:
        raise MemoryError("the compiled scorer could not allocate its block buffers")


def _chunks(n: int, threads: int) -> list[tuple[int, int]]:
    parts = max(1, min(threads, n // ROWS_PER_THREAD))
    bounds = [n * part // parts for part in range(parts + 1)]
    return list(itertools.pairwise(bounds))


def compile_scorer(
    classifier: Any,
    *,
    model_sha256: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    threads: int = 1,
) -> CompiledScorer | None:
    """The compiled scorer of a fitted boosted-tree classifier, or None (after one log line
    saying why) when the model's own predictor is to be used. With `model_sha256` (the model
    file's, from its card) the forest's arrays are cached beside the kernel under that name."""
    name = type(classifier).__name__
    choice = os.environ.get(SCORER_ENV, COMPILED).strip().lower() or COMPILED
    if choice == BOOSTER:
        log.info("%s=%s: scoring with %s's own predictor", SCORER_ENV, choice, name)
        return None
    if choice != COMPILED:
        log.warning("%s=%s is neither %s nor %s: using %s", SCORER_ENV, choice, COMPILED, BOOSTER,
                    COMPILED)  # fmt: skip
    try:
        check_kind(classifier)
        library, directory = load_kernel(cache_dir)
        forest = _forest(classifier, directory, model_sha256)
    except KernelUnavailableError as error:
        log.warning(
            "compiled scorer unavailable (%s): scoring with %s's own predictor", error, name
        )
        return None
    except UnsupportedModelError as error:
        log.info("no compiled scorer for this model (%s): scoring with %s's own", error, name)
        return None
    return CompiledScorer(forest, library, max(1, threads))


def disagreement(got: np.ndarray, expected: np.ndarray) -> str | None:
    """How `got` differs from `expected` beyond TOLERANCE or in a predicted class; None if not."""
    import numpy as np

    if got.shape != expected.shape:
        return f"gives shape {got.shape}, the model {expected.shape}"
    difference = float(np.max(np.abs(got - expected))) if got.size else 0.0
    if not difference <= TOLERANCE:
        return f"differs from the model by {difference:.3g} (more than {TOLERANCE:g})"
    if got.size and not np.array_equal(got.argmax(axis=1), expected.argmax(axis=1)):
        return "predicts another class than the model"
    return None


def _trees(classifier: Any) -> int:
    booster = getattr(classifier, "booster_", None)
    if booster is not None:
        return int(booster.num_trees())
    return sum(len(iteration) for iteration in getattr(classifier, "_predictors", ()))


def _forest(classifier: Any, directory: Path, model_sha256: str | None) -> Forest:
    """The classifier's forest; read from (else written to) the cache when the model's sha256
    is known."""
    import numpy as np

    if not model_sha256 or _trees(classifier) < FOREST_CACHE_TREES:
        return forest_of(classifier)
    # Named by the model and by the code that reads it (a change of either: a new file).
    code = hashlib.sha256(Path(forest_module.__file__).read_bytes()).hexdigest()[:12]
    path = directory / f"forest-{model_sha256[:32]}-{code}.npz"
    try:
        with np.load(path, allow_pickle=False) as arrays:
            cached = Forest.from_arrays(arrays)
        cached.check()
        return cached
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # absent or unreadable: read the model again
    forest = forest_of(classifier)
    written = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(written, **forest.arrays())
        written.replace(path)
    except OSError as error:  # a full disk, say: the cache is an optimisation only
        log.info("%s: not cached (%s)", path, error.strerror or error)
        written.unlink(missing_ok=True)
    return forest
