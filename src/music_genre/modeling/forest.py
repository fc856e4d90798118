"""A fitted boosted-tree classifier as the flat arrays the compiled scorer's kernel reads.

`forest_of` reads LightGBM's booster (its own text dump, whose numbers are printed exactly) or
a HistGradientBoostingClassifier's tree predictors, and keeps exactly what their predictors
compute: the trees that `predict_proba` uses (LightGBM's best iteration), each split's feature,
threshold and the side a missing value goes to, the leaf values, the initial raw scores (zero
for LightGBM, scikit-learn's baseline) and the link. A model the kernel cannot reproduce
exactly (categorical or zero-as-missing splits, linear trees, averaged or custom outputs)
raises UnsupportedModelError with the reason in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy as np

# The kernel's links (forest_kernel.c: mg_forest.link).
RAW: Final = 0
SOFTMAX: Final = 1
SIGMOID: Final = 2
# Trees of more leaves than this are walked; the others are scored by their leaf bitmask.
BITMASK_LEAVES: Final = 64
# LightGBM's decision_type bits (tree.h): categorical, default left, missing type (2 bits).
_CATEGORICAL_BIT: Final = 1
_DEFAULT_LEFT_BIT: Final = 2
_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2


class UnsupportedModelError(ValueError):
    """The model has a part the kernel does not score exactly (the message says which)."""


@dataclass(frozen=True)
class Tree:
    """One tree: split nodes 0..n-1 (root 0; none for a single leaf); a child is a node or
    ~leaf (negative)."""

    feature: list[int]
    threshold: list[float]
    nan_left: list[bool]
    left: list[int]
    right: list[int]
    leaves: list[float]


@dataclass(frozen=True)
class Forest:
    """Every tree of a classifier, concatenated (forest_kernel.c's mg_forest)."""

    node_start: np.ndarray  # int32, per tree + 1
    feature: np.ndarray  # int32, per split node
    threshold: np.ndarray  # float64
    nan_left: np.ndarray  # uint8
    left_leaves: np.ndarray  # uint64: bitmask trees' left-subtree leaves
    left: np.ndarray  # int32: tree-local children (walked trees)
    right: np.ndarray  # int32
    walked: np.ndarray  # uint8, per tree
    leaf_start: np.ndarray  # int32, per tree + 1
    leaf_value: np.ndarray  # float64: bitmask trees left to right, walked trees by leaf
    init: np.ndarray  # float64, per output
    n_features: int
    link: int
    sigmoid: float
    zero_band: bool  # LightGBM reads |x| <= 1e-35 of a dense row as 0.0 (a CSR entry as is)
    binary: bool  # one output p: the probabilities are [1 - p, p]

    @property
    def n_trees(self) -> int:
        return len(self.walked)

    @property
    def n_outputs(self) -> int:
        return len(self.init)

    @property
    def n_classes(self) -> int:
        return 2 if self.binary else self.n_outputs

    def check(self) -> None:
        """Raise ValueError unless every index the kernel follows stays inside its array (a
        damaged cache file must not make it read out of bounds)."""
        import numpy as np

        nodes, leaves = np.diff(self.node_start), np.diff(self.leaf_start)
        # Per split node: its tree's node and leaf counts, for its (tree-local) children.
        tree_nodes, tree_leaves = np.repeat(nodes, nodes), np.repeat(leaves, nodes)
        children = np.concatenate([self.left, self.right])
        inside = np.where(
            children >= 0, children < np.tile(tree_nodes, 2), ~children < np.tile(tree_leaves, 2)
        )
        problems = {
            "tree starts": self.node_start[0] != 0 or self.leaf_start[0] != 0,
            "tree sizes": (nodes < 0).any() or (leaves < 1).any(),
            "tree ends": self.node_start[-1] != len(self.feature)
            or self.leaf_start[-1] != len(self.leaf_value),
            "node arrays": not len(self.threshold)
            == len(self.nan_left)
            == len(self.left)
            == len(self.right)
            == len(self.left_leaves)
            == len(self.feature),
            "features": len(self.feature) > 0
            and not 0 <= self.feature.min() <= self.feature.max() < self.n_features,
            "bitmask trees": (leaves[self.walked == 0] > BITMASK_LEAVES).any(),
            "children": not inside.all(),
        }
        wrong = [name for name, bad in problems.items() if bad]
        if wrong:
            raise ValueError(f"forest arrays out of bounds: {', '.join(wrong)}")

    def arrays(self) -> dict[str, Any]:
        """Every field, as numpy arrays (np.savez); `from_arrays` reads them back."""
        import numpy as np

        return {field.name: np.asarray(getattr(self, field.name)) for field in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: Any) -> Forest:
        scalars = {"n_features": int, "link": int, "sigmoid": float, "zero_band": bool}
        values = {
            field.name: arrays[field.name][()]
            if field.name in scalars or field.name == "binary"
            else arrays[field.name]
            for field in fields(cls)
        }
        for name, kind in {**scalars, "binary": bool}.items():
            values[name] = kind(values[name])
        return cls(**values)


SCORED: Final = ("LGBMClassifier", "HistGradientBoostingClassifier")


def check_kind(classifier: Any) -> None:
    """Raise UnsupportedModelError for a classifier that is none of the SCORED kinds."""
    kind = type(classifier).__name__
    if kind not in SCORED:
        raise UnsupportedModelError(f"{kind} is not a boosted-tree model the kernel scores")


def forest_of(classifier: Any) -> Forest:
    """The forest of a fitted LGBMClassifier or HistGradientBoostingClassifier."""
    check_kind(classifier)
    kind = type(classifier).__name__
    if kind == "LGBMClassifier":
        booster = classifier.booster_
        iterations = booster.best_iteration if booster.best_iteration > 0 else -1
        return lightgbm_forest(booster.model_to_string(num_iteration=iterations))
    return hist_gradient_boosting_forest(classifier)


def lightgbm_forest(model: str) -> Forest:
    """The forest of LightGBM's text model (Booster.model_to_string)."""
    import numpy as np

    header = model.partition("\nTree=")[0]
    fields_ = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
    if "average_output" in header.splitlines():
        raise UnsupportedModelError("LightGBM random-forest mode averages its trees")
    objective = fields_.get("objective", "").split()
    link, sigmoid, binary = _lightgbm_link(objective)
    outputs = int(fields_["num_tree_per_iteration"])
    return pack(
        lightgbm_trees(model),
        init=np.zeros(outputs),
        n_features=int(fields_["max_feature_idx"]) + 1,
        link=link,
        sigmoid=sigmoid,
        zero_band=True,
        binary=binary,
    )


def lightgbm_trees(model: str) -> list[Tree]:
    """The trees of LightGBM's text model, in its order (iteration by iteration, one per
    output), their leaves by LightGBM's leaf index."""
    trees = model.partition("\nTree=")[2].partition("\nend of trees")[0]
    return [_lightgbm_tree(block) for block in trees.split("\nTree=") if block.strip()]


def _lightgbm_link(objective: list[str]) -> tuple[int, float, bool]:
    name = objective[0] if objective else "(none)"
    options = dict(item.split(":", 1) for item in objective[1:] if ":" in item)
    if name == "multiclass":
        return SOFTMAX, 1.0, False
    if name in ("binary", "multiclassova"):
        return SIGMOID, float(options.get("sigmoid", 1.0)), name == "binary"
    raise UnsupportedModelError(f"LightGBM objective '{name}' has no link the kernel knows")


def _lightgbm_tree(block: str) -> Tree:
    values = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
    leaves = [float(value) for value in values["leaf_value"].split()]
    if int(values.get("is_linear", "0")):
        raise UnsupportedModelError("LightGBM linear trees have a model per leaf")
    if int(values["num_leaves"]) == 1:
        return Tree([], [], [], [], [], leaves)
    if int(values.get("num_cat", "0")):
        raise UnsupportedModelError("LightGBM categorical splits")
    threshold = [float(value) for value in values["threshold"].split()]
    nan_left = []
    for decision, split in zip(
        (int(value) for value in values["decision_type"].split()), threshold, strict=True
    ):
        missing = (decision >> 2) & 3
        if decision & _CATEGORICAL_BIT or missing == _MISSING_ZERO:
            raise UnsupportedModelError("LightGBM categorical or zero-as-missing splits")
        # No missing type: LightGBM reads NaN as 0.0; NaN type: the split's default side.
        nan_left.append(
            bool(decision & _DEFAULT_LEFT_BIT) if missing == _MISSING_NAN else split >= 0.0
        )
    return Tree(
        [int(value) for value in values["split_feature"].split()],
        threshold,
        nan_left,
        [int(value) for value in values["left_child"].split()],
        [int(value) for value in values["right_child"].split()],
        leaves,
    )


def hist_gradient_boosting_forest(classifier: Any) -> Forest:
    """The forest of a fitted HistGradientBoostingClassifier (its raw predictions start from
    the baseline; then softmax, or the sigmoid of one output)."""
    import numpy as np

    loss = type(classifier._loss).__name__
    if loss not in ("HalfMultinomialLoss", "HalfBinomialLoss"):
        raise UnsupportedModelError(f"HistGradientBoostingClassifier loss {loss}")
    trees = [
        _hist_tree(predictor.nodes)
        for iteration in classifier._predictors
        for predictor in iteration
    ]
    binary = loss == "HalfBinomialLoss"
    return pack(
        trees,
        init=np.asarray(classifier._baseline_prediction, dtype=np.float64).ravel(),
        n_features=int(classifier.n_features_in_),
        link=SIGMOID if binary else SOFTMAX,
        sigmoid=1.0,
        zero_band=False,
        binary=binary,
    )


def _hist_tree(nodes: Any) -> Tree:
    import numpy as np

    if nodes["is_categorical"].any():
        raise UnsupportedModelError("HistGradientBoostingClassifier categorical splits")
    is_leaf = nodes["is_leaf"].astype(bool)
    # Split nodes and leaves numbered in the array's order (the root is node 0).
    number = np.cumsum(~is_leaf) - 1
    leaf_number = np.cumsum(is_leaf) - 1

    def child(index: int) -> int:
        return ~int(leaf_number[index]) if is_leaf[index] else int(number[index])

    splits = np.flatnonzero(~is_leaf)
    return Tree(
        nodes["feature_idx"][splits].astype(int).tolist(),
        nodes["num_threshold"][splits].astype(float).tolist(),
        nodes["missing_go_to_left"][splits].astype(bool).tolist(),
        [child(int(nodes["left"][index])) for index in splits],
        [child(int(nodes["right"][index])) for index in splits],
        nodes["value"][is_leaf].astype(float).tolist(),
    )


def pack(trees: list[Tree], **scalars: Any) -> Forest:
    """Concatenate trees into a Forest: each tree of at most BITMASK_LEAVES leaves with its
    leaves in left-to-right order and each split's left-subtree leaf mask, the others as they
    are (walked)."""
    import numpy as np

    names = ("feature", "threshold", "nan_left", "left", "right", "mask")
    columns: dict[str, list[Any]] = {name: [] for name in names}
    leaf_values: list[float] = []
    node_start, leaf_start, walked = [0], [0], []
    for tree in trees:
        bitmask = len(tree.leaves) <= BITMASK_LEAVES
        masks, order = _leaf_masks(tree) if bitmask else ([0] * len(tree.feature), None)
        parts: tuple[list[Any], ...] = (
            tree.feature,
            tree.threshold,
            tree.nan_left,
            tree.left,
            tree.right,
            masks,
        )
        for name, values in zip(names, parts, strict=True):
            columns[name].extend(values)
        leaf_values.extend(tree.leaves if order is None else [tree.leaves[i] for i in order])
        walked.append(not bitmask)
        node_start.append(len(columns["feature"]))
        leaf_start.append(len(leaf_values))
    return Forest(
        node_start=np.asarray(node_start, dtype=np.int32),
        feature=np.asarray(columns["feature"], dtype=np.int32),
        threshold=np.asarray(columns["threshold"], dtype=np.float64),
        nan_left=np.asarray(columns["nan_left"], dtype=np.uint8),
        left_leaves=np.asarray(columns["mask"], dtype=np.uint64),
        left=np.asarray(columns["left"], dtype=np.int32),
        right=np.asarray(columns["right"], dtype=np.int32),
        walked=np.asarray(walked, dtype=np.uint8),
        leaf_start=np.asarray(leaf_start, dtype=np.int32),
        leaf_value=np.asarray(leaf_values, dtype=np.float64),
        **scalars,
    )


def _leaf_masks(tree: Tree) -> tuple[list[int], list[int]]:
    """Per split node, the bits of the leaves of its left subtree, leaves numbered left to
    right; and the leaves in that order."""
    order: list[int] = []
    masks = [0] * len(tree.feature)

    def span(child: int) -> tuple[int, int]:
        if child < 0:
            order.append(~child)
            return len(order) - 1, len(order)
        low, middle = span(tree.left[child])
        _, high = span(tree.right[child])
        masks[child] = (1 << middle) - (1 << low)
        return low, high

    span(0 if tree.feature else -1)
    return masks, order
