"""The compiled scorer's alternatives, measured on the committed model (benchmarks/scoring.py
--only alternatives): ONNX Runtime's TreeEnsemble operator in double precision, and the model
generated as C, one nested if/else function per tree (what treelite/tl2cgen and lleaves
generate), compiled with gcc: per row, and (with --blocked-codegen) tree by tree over blocks of
64 rows. Neither onnx nor onnxruntime is a project dependency: `pip install onnx onnxruntime`
in the environment that runs this section. Only numerical splits (the committed model's) are
translated; the inputs have no missing value.
"""

from __future__ import annotations

import ctypes
import importlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from music_genre.modeling.forest import Tree, lightgbm_trees

PER_ROW = 2000


def softmax(raw: np.ndarray) -> np.ndarray:
    exp = np.exp(raw - raw.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def installed_mib(module: str) -> float | None:
    """The size of an importable package's folder."""
    try:
        folder = Path(importlib.import_module(module).__file__).parent
    except ImportError:
        return None
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 2**20


def timed(action: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = action()
    return value, time.perf_counter() - start


def per_row_ms(score: Any, dense: np.ndarray) -> float:
    times = []
    for row in range(PER_ROW):
        start = time.perf_counter()
        score(dense[row : row + 1])
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def compare(proba: np.ndarray, expected: np.ndarray) -> dict:
    return {
        "max_abs_difference": float(np.max(np.abs(proba - expected))),
        "same_classes": bool(np.array_equal(proba.argmax(1), expected.argmax(1))),
        "bit_identical": bool(np.array_equal(proba, expected)),
    }


def onnx_model(trees: list[Tree], outputs: int, features: int) -> bytes:
    """ai.onnx.ml TreeEnsemble (opset 5): double thresholds, leaves and output; raw scores."""
    from onnx import TensorProto, helper, numpy_helper

    roots, feature, split, true_id, true_leaf, false_id, false_leaf, missing = (
        [] for _ in range(8)
    )
    targets, weights = [], []
    for index, tree in enumerate(trees):
        node0, leaf0 = len(feature), len(weights)
        targets += [index % outputs] * len(tree.leaves)
        weights += tree.leaves
        roots.append(node0)
        if not tree.feature:  # one leaf: a split every row takes to it
            feature.append(0), split.append(np.inf), missing.append(1)
            true_id.append(leaf0), true_leaf.append(1), false_id.append(leaf0), false_leaf.append(1)
            continue
        for node, _ in enumerate(tree.feature):
            feature.append(tree.feature[node]), split.append(tree.threshold[node])
            missing.append(int(tree.nan_left[node]))
            for child, ids, leafs in ((tree.left[node], true_id, true_leaf),
                                      (tree.right[node], false_id, false_leaf)):  # fmt: skip
                ids.append(leaf0 + ~child if child < 0 else node0 + child)
                leafs.append(int(child < 0))
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", aggregate_function=1,
        post_transform=0, n_targets=outputs, tree_roots=roots, nodes_featureids=feature,
        nodes_splits=numpy_helper.from_array(np.asarray(split, dtype=np.float64)),
        nodes_modes=numpy_helper.from_array(np.zeros(len(feature), dtype=np.uint8)),
        nodes_truenodeids=true_id, nodes_trueleafs=true_leaf, nodes_falsenodeids=false_id,
        nodes_falseleafs=false_leaf, nodes_missing_value_tracks_true=missing,
        leaf_targetids=targets, leaf_weights=numpy_helper.from_array(np.asarray(weights)),
    )  # fmt: skip
    graph = helper.make_graph(
        [node], "forest",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, features])],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [None, outputs])],
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)]
    )
    model.ir_version = 10
    return model.SerializeToString()


def onnx_runtime(trees: list[Tree], outputs: int, dense: np.ndarray, expected: np.ndarray) -> dict:
    import onnxruntime as ort

    model, build_s = timed(lambda: onnx_model(trees, outputs, dense.shape[1]))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session, session_s = timed(
        lambda: ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    )

    def score(x: np.ndarray) -> np.ndarray:
        return softmax(session.run(None, {"X": x})[0])

    proba, seconds = timed(lambda: score(dense))
    return {
        "version": ort.__version__,
        "installed_mib": {
            "onnxruntime": installed_mib("onnxruntime"),
            "onnx": installed_mib("onnx"),
        },
        "build_s": build_s + session_s,
        "rows_per_s": len(dense) / seconds,
        "per_row_p50_ms": per_row_ms(score, dense),
        **compare(proba, expected),
    }


def tree_function(index: int, tree: Tree) -> str:
    def node(child: int) -> str:
        if child < 0:
            return f"return {tree.leaves[~child].hex()};"
        test = f"x[{tree.feature[child]}] <= {tree.threshold[child].hex()}"
        return f"if ({test}) {{{node(tree.left[child])}}} else {{{node(tree.right[child])}}}"

    return f"static inline double t{index}(const double *x) {{{node(0 if tree.feature else -1)}}}\n"


def generated_c(trees: list[Tree], outputs: int, features: int, block: int) -> str:
    softmax_c = f"""
static void softmax(const double *s, double *o) {{
  double m = s[0]; for (int k = 1; k < {outputs}; k++) m = (s[k] < m) ? m : s[k];
  double w = 0.0; for (int k = 0; k < {outputs}; k++) {{ o[k] = exp(s[k] - m); w += o[k]; }}
  for (int k = 0; k < {outputs}; k++) o[k] /= w;
}}
"""
    trees_c = "".join(tree_function(index, tree) for index, tree in enumerate(trees))
    if block == 1:
        body = "".join(f"s[{i % outputs}] += t{i}(x);\n" for i in range(len(trees)))
        entry = f"""void predict(const double *X, long n, double *out) {{
  for (long r = 0; r < n; r++) {{ const double *x = X + r * {features}; double s[{outputs}] = {{0}};
{body} softmax(s, out + r * {outputs}); }} }}"""
    else:
        body = "".join(
            f"for (long r = 0; r < m; r++) s[r * {outputs} + {i % outputs}] += "
            f"t{i}(X + (b + r) * {features});\n"
            for i in range(len(trees))
        )
        entry = f"""void predict(const double *X, long n, double *out) {{
  double s[{block * outputs}];
  for (long b = 0; b < n; b += {block}) {{ long m = n - b < {block} ? n - b : {block};
    for (long j = 0; j < m * {outputs}; j++) s[j] = 0.0;
{body}    for (long r = 0; r < m; r++) softmax(s + r * {outputs}, out + (b + r) * {outputs});
  }}
}}"""
    return "#include <math.h>\n" + trees_c + softmax_c + entry


def codegen(trees: list[Tree], outputs: int, dense: np.ndarray, expected: np.ndarray,
            block: int) -> dict:  # fmt: skip
    optimisation = "-O2" if block == 1 else "-O1"  # -O2 of the blocked code: too long to wait for
    with tempfile.TemporaryDirectory() as work:
        source, library = Path(work, "forest.c"), Path(work, "forest.so")
        source.write_text(generated_c(trees, outputs, dense.shape[1], block))
        compiler = shutil.which("gcc") or "cc"
        _, compile_s = timed(lambda: subprocess.run(
            [compiler, optimisation, "-shared", "-fPIC", "-o", str(library), str(source), "-lm"],
            check=True,
        ))  # fmt: skip
        predict = ctypes.CDLL(str(library)).predict
        predict.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p]

        def score(x: np.ndarray) -> np.ndarray:
            out = np.empty((len(x), outputs))
            predict(x.ctypes.data, len(x), out.ctypes.data)
            return out

        proba, seconds = timed(lambda: score(dense))
        return {
            "layout": "per row" if block == 1 else f"tree by tree over blocks of {block} rows",
            "gcc": optimisation,
            "source_mib": source.stat().st_size / 2**20,
            "compile_s": compile_s,
            "rows_per_s": len(dense) / seconds,
            "per_row_p50_ms": per_row_ms(lambda x: score(np.ascontiguousarray(x)), dense),
            **compare(proba, expected),
        }


def alternatives(predictor: Any, songs: Any, blocked: bool = False) -> dict:
    prepared = predictor.inputs.prepare(songs)[predictor.card["input_columns"]]
    csr = predictor.features.transform(prepared)
    dense = np.ascontiguousarray(csr.toarray())
    booster = predictor.pipeline[-1].booster_
    expected = booster.predict(csr)
    trees = lightgbm_trees(booster.model_to_string())
    outputs = booster.num_model_per_iteration()
    kernel_proba, kernel_s = timed(lambda: predictor.scorer.predict_proba(csr))
    results: dict[str, Any] = {
        "rows": len(dense),
        "trees": len(trees),
        "llvmlite_installed_mib": installed_mib("llvmlite"),
        "kernel": {
            "rows_per_s": len(dense) / kernel_s,
            "per_row_p50_ms": per_row_ms(predictor.scorer.predict_proba, dense),
            **compare(kernel_proba, expected),
        },
        "onnxruntime": onnx_runtime(trees, outputs, dense, expected),
        "codegen_per_row": codegen(trees, outputs, dense, expected, 1),
    }
    if blocked:
        results["codegen_blocked"] = codegen(trees, outputs, dense, expected, 64)
    return results
