"""core.errors: pydantic's errors as one dotted key and one line, for params.yaml and the API."""

import pytest
from pydantic import BaseModel, ValidationError

from music_genre.core.errors import error_key, validation_line


class _Song(BaseModel):
    tempo: float
    key: int


class _Request(BaseModel):
    songs: list[_Song]


def _errors(payload: object) -> list:
    with pytest.raises(ValidationError) as caught:
        _Request.model_validate(payload)
    return caught.value.errors(include_url=False)


def test_the_key_of_an_error_is_its_location_dotted():
    assert error_key(("train", "lightgbm", "num_leaves")) == "train.lightgbm.num_leaves"
    assert error_key(("body", "songs", 1, "tempo"), omit=("body",)) == "songs.1.tempo"
    assert error_key(()) == ""


def test_the_first_error_is_one_line_counting_the_others():
    errors = _errors({"songs": [{"tempo": 1.0, "key": 2}, {"tempo": "fast", "key": "C"}]})
    line = validation_line(errors)
    assert line.startswith("songs.1.tempo: Input should be a valid number")
    assert line.endswith(" (and 1 more problem(s))")
    assert "\n" not in line
    only = validation_line(_errors({"songs": [{"tempo": 1.0}]}))
    assert only == "songs.0.key: Field required"


def test_a_problem_of_the_whole_input_is_named_by_nowhere():
    errors = _errors([1, 2])
    assert validation_line(errors, nowhere="body").startswith("body: Input should be")
    wrapped = [{"loc": ("body",), "msg": "bad"}]
    assert validation_line(wrapped, omit=("body",), nowhere="body") == "body: bad"
