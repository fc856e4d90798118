"""The MLflow pyfunc class and its signature, derived from the data contract."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models.utils import _enforce_schema
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, ErrorCode

from music_genre.data.contract import load_contract, parse_contract
from music_genre.modeling.mlflow_model import (
    PROBABILITIES_PARAM,
    input_example,
    prepare,
    signature,
)
from support.project import PROJECT_ROOT

CONTRACT = load_contract(PROJECT_ROOT / "contract.yaml")
PENGUINS = load_contract(PROJECT_ROOT / "examples" / "penguins" / "contract.yaml")
# A contract with a nullable integer column, two text columns and no groups.
OTHER = parse_contract(
    {
        "name": "things",
        "row": "thing",
        "target": "label",
        "columns": {
            "label": {"role": "target", "dtype": "str", "values": ["a", "b", "c"]},
            "count": {"role": "numeric", "dtype": "int64", "nullable": True, "range": [0, 9]},
            "size": {"role": "numeric", "dtype": "float64"},
            "level": {"role": "categorical", "dtype": "int64", "range": [1, 3]},
            "first": {"role": "text", "dtype": "str", "nullable": True},
            "second": {"role": "text", "dtype": "str"},
        },
        "text": {"name": "words", "columns": ["first", "second"]},
    },
    "inline",
)
MLFLOW_TYPES = {"float64": "double", "int64": "long", "str": "string"}


def _columns(contract):
    return {spec.name: spec for spec in signature(contract).inputs.inputs}


@pytest.mark.parametrize("contract", [CONTRACT, PENGUINS, OTHER], ids=lambda c: c.name)
def test_the_signature_is_the_contract_s_input_columns(contract):
    columns = _columns(contract)
    assert list(columns) == list(contract.input_columns)
    for name, spec in columns.items():
        assert spec.required == (name not in contract.optional_columns), name
        column = contract.columns[name]
        expected = "double" if column.dtype == "int64" and column.nullable else None
        assert spec.type.name == (expected or MLFLOW_TYPES[column.dtype]), name
    outputs = signature(contract).outputs.inputs
    assert [spec.name for spec in outputs] == [contract.prediction_column]
    params = signature(contract).params.params
    assert [(param.name, param.default) for param in params] == [(PROBABILITIES_PARAM, False)]


def test_integer_columns_are_long_so_int64_tables_and_json_integers_pass():
    # MLflow converts int64 to double only for 0/1 values: a `double` integer column would
    # refuse every int64 table, a `long` one takes it as it is.
    integers = [
        name for name in CONTRACT.required_input_columns if CONTRACT.raw_dtypes[name] == "int64"
    ]
    assert integers
    example = input_example(CONTRACT)
    enforced = _enforce_schema(example, signature(CONTRACT).inputs)
    assert all(enforced[name].dtype == np.int64 for name in integers)
    # A nullable integer column is a double: pandas holds its missing values as NaN.
    frame = pd.DataFrame(
        {"count": [1.0, math.nan], "size": [0.5, 1.5], "level": [1, 2], "second": ["x", "y"]}
    )
    assert _enforce_schema(frame, signature(OTHER).inputs)["count"].isna().tolist() == [False, True]


@pytest.mark.parametrize("contract", [CONTRACT, PENGUINS, OTHER], ids=lambda c: c.name)
def test_the_input_example_fits_the_signature_and_the_ranges(contract):
    example = input_example(contract)
    assert list(example.columns) == list(contract.required_input_columns)
    _enforce_schema(example, signature(contract).inputs)
    for name, (low, high) in contract.value_ranges.items():
        if name in example.columns:
            assert low <= example[name].iloc[0] <= high, name
    prepared = prepare(contract, example, list(contract.model_input_columns))
    assert list(prepared.columns) == list(contract.model_input_columns)


def test_prepare_fills_absent_optional_columns_and_composes_the_text():
    prepared = prepare(OTHER, input_example(OTHER), ["count", "size", "level", "words"])
    assert prepared["count"].isna().all()
    assert prepared["words"].tolist() == [" "]  # both text columns absent: '' joined by ' '


def _refused(contract, frame, *fragments):
    with pytest.raises(MlflowException) as raised:
        prepare(contract, frame, list(contract.model_input_columns))
    assert raised.value.error_code == ErrorCode.Name(INVALID_PARAMETER_VALUE)
    message = raised.value.message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_prepare_refuses_a_missing_required_column():
    first = CONTRACT.required_input_columns[0]
    _refused(CONTRACT, input_example(CONTRACT).drop(columns=[first]), "missing required", first)


def test_prepare_refuses_an_empty_required_value():
    frame = pd.concat([input_example(CONTRACT)] * 2, ignore_index=True)
    name = next(n for n in CONTRACT.required_input_columns if CONTRACT.raw_dtypes[n] == "float64")
    frame.loc[1, name] = math.nan
    _refused(CONTRACT, frame, f"'{name}'", "empty in row 1")


def test_prepare_refuses_values_outside_the_contract():
    name, (_, high) = next(iter(CONTRACT.value_ranges.items()))
    frame = input_example(CONTRACT).assign(**{name: high + 1})
    _refused(CONTRACT, frame, f"'{name}'", "outside", "row 0")
    island = next(n for n in PENGUINS.categorical_features if PENGUINS.raw_dtypes[n] == "str")
    frame = input_example(PENGUINS).assign(**{island: "Atlantis"})
    _refused(PENGUINS, frame, f"'{island}'", "'Atlantis'", "not one of")
