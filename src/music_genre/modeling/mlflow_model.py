"""The model as an MLflow Model: the `python_function` class MLflow loads, and its signature.

`mlflow.pyfunc.load_model`, `mlflow models predict` and `mlflow models serve` call
`ContractModel`: it loads `artifacts/model.joblib` through `modeling.store.load_model`, so the
pickle is unpickled only after its sha256 matches the card beside it (`artifacts/model.json`),
exactly as `music-genre serve` does. The table's rules come from the contract stored in the
flavor's `model_config`; nothing here names a column.

The signature is derived from the same contract (`signature`): float columns are `double`,
integer columns `long` (an integer-valued JSON number such as `5` or `5.0` is accepted: MLflow
parses it into the column's type; `double` would make MLflow refuse every int64 table, since it
converts int64 to double only for 0/1 values), text and string columns `string`; nullable
features and the text columns are optional (left out, they are missing), everything else is
required. Values outside the contract's ranges or allowed values, and empty required values, are
refused with MLflow's INVALID_PARAMETER_VALUE, which its scoring server answers with 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

# The pickled pipeline's TF-IDF class lives there: imported so that the MLflow Model's copy of
# the code (pipeline.package copies this module and what it imports) holds it.
import music_genre.modeling.text  # noqa: F401
from music_genre.data.contract import Contract
from music_genre.modeling.metrics import predicted_labels
from music_genre.modeling.store import load_model

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Names of the MLflow Model's artifacts and of its model_config entry.
MODEL_ARTIFACT: Final = "model"
CARD_ARTIFACT: Final = "card"
CONTRACT_CONFIG: Final = "contract"
# predict(..., params={"probabilities": True}): the class and every probability, as the columns
# of `music-genre predict --probabilities`; by default the predicted class only, one per row (the
# answer of `music-genre serve`'s /invocations).
PROBABILITIES_PARAM: Final = "probabilities"
_SIGNATURE_TYPES: Final = {"float64": "double", "int64": "long", "str": "string", "bool": "boolean"}


def _refuse(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _signature_type(contract: Contract, name: str) -> str:
    column = contract.columns[name]
    # pandas holds a missing integer as NaN in a float column: a nullable one is a double.
    if column.dtype == "int64" and column.nullable:
        return "double"
    return _SIGNATURE_TYPES[column.dtype]


def signature(contract: Contract) -> ModelSignature:
    """The MLflow signature of the contract's input columns, the output and the one param."""
    optional = set(contract.optional_columns)
    inputs = Schema(
        [
            ColSpec(_signature_type(contract, name), name, required=name not in optional)
            for name in contract.input_columns
        ]
    )
    outputs = Schema([ColSpec("string", contract.prediction_column)])
    params = ParamSchema([ParamSpec(PROBABILITIES_PARAM, "boolean", False)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def _example_value(contract: Contract, name: str) -> Any:
    column = contract.columns[name]
    if column.values:
        return column.values[0]
    if column.dtype == "str":
        return ""
    low, high = column.range or (0, 0)
    if column.dtype == "int64":
        return int((low + high) // 2)
    return float(low + high) / 2


def input_example(contract: Contract) -> pd.DataFrame:
    """One row of the required columns, each at the middle of its range (or its first value)."""
    import pandas as pd

    row = {name: _example_value(contract, name) for name in contract.required_input_columns}
    return pd.DataFrame([row]).astype({name: contract.raw_dtypes[name] for name in row})


def _shown(value: Any) -> str:
    return repr(value.item() if hasattr(value, "item") else value)


def _column_problem(contract: Contract, name: str, values: pd.Series) -> str | None:
    import pandas as pd

    column = contract.columns[name]
    missing = values.isna()
    if missing.any() and name not in contract.optional_columns:
        return f"is empty in row {int(missing.to_numpy().argmax())}"
    present = values[~missing]
    if column.range is not None:
        if not pd.api.types.is_numeric_dtype(present) or pd.api.types.is_bool_dtype(present):
            return f"must hold numbers, got {present.dtype}"
        low, high = column.range
        outside = ~present.between(low, high)
        if outside.any():
            row = present.index[int(outside.to_numpy().argmax())]
            return f"value {_shown(present[row])} in row {row} is outside [{low}, {high}]"
    if column.values is not None:
        unknown = ~present.isin(column.values)
        if unknown.any():
            row = present.index[int(unknown.to_numpy().argmax())]
            return f"value {_shown(present[row])} in row {row} is not one of {list(column.values)}"
    return None


def prepare(contract: Contract, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The model's input `columns` from a table of the contract's input columns (extra columns
    ignored, absent optional ones missing); a missing, empty or out-of-range value is refused."""
    import pandas as pd

    absent = [name for name in contract.required_input_columns if name not in frame.columns]
    if absent:
        raise _refuse(f"input: missing required column(s) {', '.join(absent)}")
    frame = frame.reset_index(drop=True)
    for name in contract.input_columns:
        if name in frame.columns:
            problem = _column_problem(contract, name, frame[name])
            if problem is not None:
                raise _refuse(f"input: column '{name}' {problem}")
    filled = {
        name: pd.Series(
            pd.NA if contract.raw_dtypes[name] == "str" else float("nan"),
            index=frame.index,
            dtype=contract.raw_dtypes[name],
        )
        for name in contract.optional_columns
        if name not in frame.columns
    }
    return contract.with_text_feature(frame.assign(**filled))[columns]


class ContractModel(PythonModel):
    """The classifier behind MLflow's pyfunc API (see the module's docstring)."""

    def load_context(self, context: Any) -> None:
        self.pipeline, card = load_model(context.artifacts[MODEL_ARTIFACT])
        self.contract = Contract.model_validate(context.model_config[CONTRACT_CONFIG])
        self.classes: list[str] = list(card["classes"])
        self.columns: list[str] = list(card["input_columns"])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(prepare(self.contract, frame, self.columns))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> Any:
        import pandas as pd

        if not isinstance(model_input, pd.DataFrame):
            raise _refuse(f"input: expected a table, got {type(model_input).__name__}")
        proba = self.predict_proba(model_input)
        labels = predicted_labels(proba, self.classes)
        if not (params or {}).get(PROBABILITIES_PARAM, False):
            return labels
        columns: dict[str, Any] = {self.contract.prediction_column: labels}
        for index, label in enumerate(self.classes):
            columns[self.contract.probability_column(label)] = proba[:, index]
        return pd.DataFrame(columns)
