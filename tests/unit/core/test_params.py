from pathlib import Path

import pytest
import yaml

from music_genre.core.errors import ParamsError
from music_genre.core.params import load_params, parse_params

PARAMS_FILE = Path(__file__).resolve().parents[3] / "params.yaml"


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text())


def _leaves(value, path=()):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    else:
        yield path, value


def test_committed_params_load_as_written(raw):
    """Every value of params.yaml arrives under its own name (whatever a re-tune sets it to)."""
    loaded = load_params(PARAMS_FILE).model_dump()
    leaves = dict(_leaves(raw))
    assert len(leaves) > 40
    for path, value in leaves.items():
        node = loaded
        for part in path:
            node = node[part]
        assert node == value, ".".join(path)


def test_unknown_key_is_named(raw):
    raw["train"]["val_sise"] = 0.2
    with pytest.raises(ParamsError, match=r"unknown key 'train.val_sise' \(expected one of"):
        parse_params(raw)


def test_missing_key_is_named(raw):
    del raw["check_data"]["ks_alpha"]
    with pytest.raises(ParamsError, match=r"missing key 'check_data.ks_alpha'"):
        parse_params(raw)


def test_wrong_type_is_named(raw):
    raw["segregate"]["test_size"] = "0.3"
    with pytest.raises(ParamsError, match=r"'segregate.test_size' must be a number, got str"):
        parse_params(raw)


def test_bool_is_not_an_integer(raw):
    raw["seed"] = True
    with pytest.raises(ParamsError, match=r"'seed' must be an integer"):
        parse_params(raw)


def test_out_of_range_is_named(raw):
    raw["train"]["val_size"] = 1.5
    with pytest.raises(ParamsError, match=r"'train.val_size' is 1.5, expected a value in \(0.0"):
        parse_params(raw)


def test_section_must_be_a_mapping(raw):
    raw["tfidf"] = 10
    with pytest.raises(ParamsError, match=r"tfidf must be a mapping, got int 10"):
        parse_params(raw)


def test_null_sha256_and_integer_for_float_are_accepted(raw):
    raw["data"]["sha256"] = None
    raw["check_data"]["ks_alpha"] = 0.01
    raw["segregate"]["test_size"] = 0.25
    params = parse_params(raw)
    assert params.data.sha256 is None


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: [1, 2\n")
    with pytest.raises(ParamsError, match=r"not valid YAML") as error:
        load_params(path)
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match=r"file not found"):
        load_params(tmp_path / "params.yaml")
