"""The data contract: what it derives from a table's description, and one line for a bad one."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from music_genre.data.contract import (
    CONTRACT_ENV,
    Contract,
    ContractError,
    contract_path,
    load_contract,
    parse_contract,
)

ROOT = Path(__file__).resolve().parents[3]

SMALL = {
    "name": "parts",
    "row": "part",
    "target": "state",
    "columns": {
        "weight": {"role": "numeric", "dtype": "float64", "nullable": True, "range": [0, 50]},
        "count": {"role": "numeric", "dtype": "int64"},
        "site": {"role": "categorical", "dtype": "str", "values": ["north", "south"]},
        "state": {"role": "target", "dtype": "str", "values": ["ok", "worn", "broken"]},
        "serial": {"role": "carried", "dtype": "str"},
    },
    "groups": {"name": "machine", "columns": ["serial"]},
}


def _with(**changes: object) -> dict:
    raw = copy.deepcopy(SMALL)
    raw.update(changes)
    return raw


def test_the_songs_contract_derives_the_model_inputs_in_the_transformers_order():
    contract = load_contract(ROOT / "contract.yaml")
    assert contract.name == "songs" and contract.row == "song"
    assert contract.target == "genre" and len(contract.classes) == 15
    # The text feature (TF-IDF), then the text columns it is made of (their statistics).
    assert contract.model_input_columns[-3:] == ("text_feature", "title", "song_name")
    assert contract.model_input_columns[:-3] == (
        *contract.numeric_features,
        *contract.categorical_features,
    )
    assert contract.text_columns == ("title", "song_name")
    assert contract.optional_columns == ("loudness", "title", "song_name")
    assert contract.prediction_column == "predicted_genre"
    # The prepared table: text is filled by preprocess, so only loudness may be missing.
    assert contract.nullable_columns == frozenset({"loudness"})
    # Integer ranges stay integers (the API's JSON schema shows 11, not 11.0).
    assert contract.value_ranges["key"] == (0, 11) and isinstance(
        contract.value_ranges["key"][1], int
    )


def test_a_contract_without_text_and_its_derived_columns():
    contract = parse_contract(SMALL)
    assert contract.text_feature is None and contract.text_columns == ()
    assert contract.model_input_columns == ("weight", "count", "site")
    assert contract.required_input_columns == ("count", "site")
    assert contract.input_columns == ("count", "site", "weight")
    assert contract.profiled_columns == ("weight", "count")
    assert contract.category_columns == ("site", "state")
    assert contract.classes == ("ok", "worn", "broken")
    frame = pd.DataFrame({"weight": [1.0]})
    assert contract.with_text_feature(frame) is frame
    with pytest.raises(ContractError, match="no text feature"):
        contract.compose_text(["a"])


@pytest.mark.parametrize("columns", [["a"], ["a", "b"], ["a", "b", "c"]])
def test_the_text_feature_joins_its_columns_for_a_table_and_for_one_row(columns):
    raw = copy.deepcopy(SMALL)
    for name in columns:
        raw["columns"][name] = {"role": "text", "dtype": "str", "nullable": True}
    raw["text"] = {"name": "words", "columns": columns, "separator": " | "}
    contract = parse_contract(raw)
    frame = pd.DataFrame({name: pd.Series([name.upper(), None], dtype="str") for name in columns})
    composed = contract.with_text_feature(frame)
    assert composed["words"].tolist() == [
        " | ".join(name.upper() for name in columns),
        " | ".join("" for _ in columns),
    ]
    assert composed[columns[0]].tolist()[1] == ""
    assert contract.compose_text([name.upper() for name in columns]) == composed["words"][0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            _with(
                columns={
                    "x": {"role": "numeric", "dtype": "float64"},
                    "y": {"role": "numeric", "dtype": "int64"},
                }
            ),
            "contract.yaml: contract: Value error, target 'state' must be the one column of role "
            "target (role target: none)",
        ),
        ({**SMALL, "colums": {}}, "contract.yaml: colums: Extra inputs are not permitted"),
        (
            _with(
                columns={
                    **SMALL["columns"],
                    "weight": {"role": "numeric", "dtype": "float64", "range": [5, 1]},
                }
            ),
            "contract.yaml: columns.weight: Value error, range [5, 1]: low is above high",
        ),
        (
            _with(columns={**SMALL["columns"], "weight": {"role": "numerc", "dtype": "float64"}}),
            "contract.yaml: columns.weight.role: Input should be 'numeric', 'categorical', 'text', "
            "'target' or 'carried'",
        ),
        (
            _with(
                columns={
                    **SMALL["columns"],
                    "state": {"role": "target", "dtype": "str", "values": ["ok"]},
                }
            ),
            "contract.yaml: columns.state: Value error, the target needs its classes as "
            "`values` (at least 2)",
        ),
        (
            _with(columns={**SMALL["columns"], "note": {"role": "text", "dtype": "str"}}),
            "contract.yaml: contract: Value error, text columns ['note'] need a `text:` section",
        ),
        (
            _with(columns={**SMALL["columns"], "note": {"role": "text", "dtype": "int64"}}),
            "contract.yaml: columns.note: Value error, a text column needs dtype str, not int64",
        ),
        (
            _with(groups={"name": "machine", "columns": ["serial_no"]}),
            "contract.yaml: contract: Value error, groups.columns: 'serial_no' is not a "
            "declared column",
        ),
        (
            _with(text={"columns": ["serial"]}),
            "contract.yaml: contract: Value error, text.columns ['serial'] must be the columns of "
            "role text []",
        ),
        (["name", "row"], "contract.yaml: expected a mapping of contract keys, got list"),
    ],
)
def test_a_bad_contract_is_one_line_naming_the_key(raw, expected):
    with pytest.raises(ContractError) as raised:
        parse_contract(raw)
    assert str(raised.value) == expected
    assert "\n" not in str(raised.value)


def test_the_contract_file_is_found_and_a_broken_one_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONTRACT_ENV, raising=False)
    with pytest.raises(ContractError, match=r"^contract.yaml: no data contract here"):
        load_contract()
    (tmp_path / "contract.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ContractError, match=r"^contract.yaml: not valid YAML \("):
        load_contract()
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(SMALL))
    monkeypatch.setenv(CONTRACT_ENV, str(other))
    assert contract_path() == other and load_contract().name == "parts"


def test_the_model_card_round_trips_the_contract():
    contract = load_contract(ROOT / "contract.yaml")
    card = yaml.safe_load(yaml.safe_dump(contract.card()))
    assert Contract.model_validate(card) == contract


def test_a_table_that_does_not_fit_is_named_in_one_line():
    contract = parse_contract(SMALL)
    frame = pd.DataFrame({"weight": [1.0], "count": [2], "state": ["ok"]})
    with pytest.raises(ContractError) as raised:
        contract.require_columns(frame, "data/raw/parts.parquet")
    assert str(raised.value) == (
        "data/raw/parts.parquet: column 'site' is declared in the contract but not in the table "
        "(2 declared column(s) missing; it has: weight, count, state)"
    )
    with pytest.raises(ContractError) as raised:
        contract.require_classes(pd.Series(["ok", "broken", "ok"]), "data/prepared/parts.parquet")
    assert str(raised.value) == (
        "data/prepared/parts.parquet: column 'state': class 'worn' is declared in the contract "
        "but no row has it (1 of 3 unseen)"
    )
    contract.require_classes(pd.Series(["ok", "worn", "broken"]), "anywhere")
