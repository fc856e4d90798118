"""Explained predictions: each class's contribution of each input column, from the model itself.

LightGBM's `pred_contrib` (TreeSHAP) splits every class's raw score into one contribution per
column the classifier reads plus a base value (the expected raw score), exactly: they add up to
the raw score, and the softmax of the raw scores is the predicted probabilities. A two-class
booster has one raw score s, the log-odds of the second class; it is given as -s/2 for the first
class and +s/2 for the second (each contribution and the base value halved likewise), whose
softmax is [1 - sigmoid(s), sigmoid(s)], the probabilities. The columns are
the contract's model inputs; the TF-IDF columns are summed into the text feature they come from
(the contract's text columns, composed), and each row's own terms are listed with their
contribution to the predicted class (only when the contract has text).

The probabilities beside them are the compiled scorer's (music_genre.modeling.compiled) when
the model has one: the booster's own, faster.

Only estimators that the registry (core.estimators) marks `contributions` are explained; the
others have no exact per-column decomposition that is cheap (KernelSHAP would take thousands of
predictions per row), so asking is a one-line 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from music_genre.core.estimators import ESTIMATORS
from music_genre.modeling.importances import input_column, read_columns
from music_genre.serving.inputs import InputError
from music_genre.serving.predict import Predictor

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from music_genre.data.contract import Contract

TOP_TERMS: Final = 5
BASE_PREFIX: Final = "base_"
CONTRIBUTION_PREFIX: Final = "contribution_"
TOP_TERMS_COLUMN: Final = "top_terms"


@dataclass(frozen=True)
class Explanations:
    """Explanations of n rows for K classes and C input columns (arrays, not yet JSON)."""

    contract: Contract
    classes: list[str]
    columns: list[str]
    contributions: np.ndarray  # (n, K, C)
    base: np.ndarray  # (K,)
    probabilities: np.ndarray  # (n, K)
    top_terms: list[list[tuple[str, float]]]  # per row: (term, contribution to its class)

    @property
    def raw_scores(self) -> np.ndarray:
        return self.contributions.sum(axis=2) + self.base

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready explanation per row (top_terms only when the contract has text)."""
        classes, columns = self.classes, self.columns
        base = dict(zip(classes, self.base.tolist(), strict=True))
        with_terms = self.contract.text is not None
        out = []
        for contributions, raw, proba, terms in zip(
            self.contributions.tolist(),
            self.raw_scores.tolist(),
            self.probabilities.tolist(),
            self.top_terms,
            strict=True,
        ):
            best = max(range(len(classes)), key=proba.__getitem__)
            record: dict[str, Any] = {
                self.contract.target: classes[best],
                "probabilities": dict(zip(classes, proba, strict=True)),
                "raw_scores": dict(zip(classes, raw, strict=True)),
                "base_values": base,
                "contributions": {
                    label: dict(zip(columns, row, strict=True))
                    for label, row in zip(classes, contributions, strict=True)
                },
            }
            if with_terms:
                record["top_terms"] = [
                    {"term": term, "contribution": value} for term, value in terms
                ]
            out.append(record)
        return out


def _not_explainable(message: str) -> InputError:
    detail = [{"loc": ["model"], "msg": "no native contributions", "type": "not_explainable"}]
    return InputError(422, message, detail)


@dataclass(frozen=True)
class Explainer:
    """Turns validated rows into Explanations for one loaded LightGBM pipeline."""

    predictor: Predictor
    booster: Any
    columns: list[str]  # the input columns, in the order of Explanations.columns
    column_index: np.ndarray  # per classifier feature: its input column's position in columns
    terms: dict[int, str]  # classifier feature -> TF-IDF term

    @classmethod
    def for_predictor(cls, predictor: Predictor) -> Explainer:
        """The explainer of `predictor`'s model, or InputError 422 when it has none."""
        import numpy as np

        name = predictor.card.get("model", "")
        spec = ESTIMATORS.get(name)
        classifier = predictor.pipeline[-1]
        if spec is None or not spec.contributions:
            estimator = type(classifier).__name__
            raise _not_explainable(
                f"model '{name}' ({estimator}) has no native per-column contributions; "
                "explanations need a LightGBM model (train.model: lightgbm)"
            )
        preprocessor = predictor.pipeline.named_steps["preprocessor"]
        names = [str(name) for name in preprocessor.get_feature_names_out()]
        text_feature = predictor.contract.text_feature
        # The input columns the model reads, in the contract's order (the text columns only
        # when the statistics block reads them).
        features = [input_column(feature, text_feature) for feature in names]
        columns = read_columns(predictor.pipeline, predictor.contract.model_input_columns)
        index = [columns.index(column) for column, _ in features]
        terms = {position: term for position, (_, term) in enumerate(features) if term is not None}
        return cls(predictor, classifier.booster_, columns, np.asarray(index), terms)

    def matrix(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """The classifier's input for validated rows, as /predict builds it."""
        compiled = self.predictor.compiled
        if compiled is not None:
            return compiled.matrix(rows)
        inputs = self.predictor.inputs
        return self.matrix_of_frame(inputs.prepare(inputs.frame(rows), "request"))

    def matrix_of_frame(self, prepared: Any) -> np.ndarray:
        """The classifier's input for a prepared table (RowInputs.prepare's output)."""
        import numpy as np

        pipeline = self.predictor.pipeline
        matrix = pipeline.named_steps["preprocessor"].transform(
            prepared[self.predictor.card["input_columns"]]
        )
        dense = matrix.toarray() if hasattr(matrix, "toarray") else matrix
        return np.ascontiguousarray(dense, dtype=np.float64)

    def explain(self, matrix: np.ndarray, threads: int | None = None) -> Explanations:
        """Explain the rows of `matrix`; `threads` LightGBM threads (None: the model's own)."""
        import numpy as np

        options = {} if threads is None else {"num_threads": threads}
        n, width = matrix.shape
        k = len(self.predictor.classes)
        raw = self.booster.predict(matrix, pred_contrib=True, **options)
        if k == 2:
            # One raw score s: -s/2 and +s/2 (halving is exact), so the softmax still gives
            # the probabilities.
            half = np.asarray(raw).reshape(n, width + 1) / 2.0
            raw = np.stack([-half, half], axis=1)
        else:
            raw = raw.reshape(n, k, width + 1)
        base = raw[0, :, -1].copy() if n else np.zeros(k)
        per_feature = raw[:, :, :-1]
        # Summed into input columns by one product with a 0/1 matrix (a feature's own column
        # gets x * 1 plus zeros: unchanged).
        membership = np.zeros((width, len(self.columns)))
        membership[np.arange(width), self.column_index] = 1.0
        contributions = per_feature @ membership
        probabilities = self.probabilities(matrix, threads)
        best = probabilities.argmax(axis=1)
        term_columns = np.fromiter(self.terms, dtype=np.int64, count=len(self.terms))
        top_terms = []
        for row in range(n):
            present = term_columns[matrix[row, term_columns] != 0.0]
            values = per_feature[row, best[row], present]
            present, values = present[values != 0.0], values[values != 0.0]
            order = np.argsort(-np.abs(values), kind="stable")[:TOP_TERMS]
            top_terms.append([(self.terms[int(present[i])], float(values[i])) for i in order])
        return Explanations(
            self.predictor.contract,
            list(self.predictor.classes),
            list(self.columns),
            contributions,
            base,
            probabilities,
            top_terms,
        )

    def probabilities(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The rows' probabilities: the compiled scorer's when the model has one (the booster's
        to the last bit), else the booster's."""
        scorer = self.predictor.scorer
        if scorer is not None:
            return scorer.with_threads(threads or 1).predict_proba(matrix)
        import numpy as np

        options = {} if threads is None else {"num_threads": threads}
        proba = self.booster.predict(matrix, **options).reshape(len(matrix), -1)
        # A two-class booster gives p of the second class: LightGBM's predict_proba's columns.
        return np.hstack([1.0 - proba, proba]) if proba.shape[1] == 1 else proba

    def explain_rows(self, rows: list[dict[str, Any]]) -> Explanations:
        return self.explain(self.matrix(rows))

    def columns_of(self, rows: pd.DataFrame, source: str) -> pd.DataFrame:
        """Explanation columns for a table of raw rows (`music-genre predict --explain`):
        base_<class>, contribution_<class>_<column> and, with a text feature, top_terms
        ("term:+0.123 ...")."""
        import pandas as pd

        from music_genre.modeling.threads import resolve_threads

        prepared = self.predictor.inputs.prepare(rows, source)
        explained = self.explain(self.matrix_of_frame(prepared), threads=resolve_threads(0))
        n = len(rows)
        columns: dict[str, Any] = {}
        for k, label in enumerate(explained.classes):
            columns[f"{BASE_PREFIX}{label}"] = [float(explained.base[k])] * n
            for c, column in enumerate(explained.columns):
                columns[f"{CONTRIBUTION_PREFIX}{label}_{column}"] = explained.contributions[:, k, c]
        if self.predictor.contract.text is not None:
            columns[TOP_TERMS_COLUMN] = [
                " ".join(f"{term}:{value:+.4f}" for term, value in terms)
                for terms in explained.top_terms
            ]
        return pd.DataFrame(columns)
