"""serving.inputs and serving.forms: the request contract, in process (the API tests drive it
over HTTP), for the songs contract."""

import math

import pandas as pd
import pytest

from music_genre.core.errors import DataFileError
from music_genre.serving import forms
from music_genre.serving.inputs import INT64_RANGE, InputError, RowInputs
from support.data import songs_contract
from support.servers import as_request_songs

CONTRACT = songs_contract()
INPUTS = RowInputs.of(CONTRACT)
OPTIONAL_COLUMNS = CONTRACT.optional_columns
REQUIRED_INPUT_COLUMNS = CONTRACT.required_input_columns
VALUE_RANGES = CONTRACT.value_ranges


def records_from_json(payload, max_rows):
    return forms.records_from_json(INPUTS, payload, max_rows)


def records_from_csv(body, max_rows):
    return forms.records_from_csv(INPUTS, body, max_rows)


def test_the_input_columns_and_ranges_come_from_the_contract():
    assert INPUTS.columns == (*REQUIRED_INPUT_COLUMNS, *OPTIONAL_COLUMNS)
    assert list(INPUTS.row.model_json_schema(by_alias=True)["required"]) == list(
        REQUIRED_INPUT_COLUMNS
    )
    for name, bounds in VALUE_RANGES.items():
        if name in INPUTS.columns:
            assert INPUTS.allowed_range(name) == bounds
    # An integer column the contract leaves unbounded still fits in int64.
    unbounded = [n for n in INPUTS.columns if n not in VALUE_RANGES and INPUTS.allowed_range(n)]
    assert all(INPUTS.allowed_range(name) == INT64_RANGE for name in unbounded)
    assert INPUTS.allowed_range("title") is None
    # The table's other columns are accepted and ignored; the songs' names are today's.
    assert set(INPUTS.ignored) == {"mode", "type", "genre", "text_feature"}
    assert (INPUTS.row.__name__, INPUTS.record.__name__) == ("Song", "Record")


def test_every_json_form_gives_the_same_songs(songs):
    records = as_request_songs(songs.head(3))
    split = {"columns": list(records[0]), "data": [list(r.values()) for r in records]}
    forms = [
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": records},
        {"dataframe_split": split},
    ]
    results = [records_from_json(payload, max_rows=10) for payload in forms]
    assert all(result == results[0] for result in results)
    assert [song["tempo"] for song in results[0]] == [r["tempo"] for r in records]


def test_csv_is_read_like_json_with_empty_cells_missing(songs):
    frame = songs.head(4)[list(INPUTS.columns)].copy()
    frame.loc[frame.index[0], "loudness"] = math.nan
    from_csv = records_from_csv(frame.to_csv(index=False).encode(), max_rows=10)
    from_json = records_from_json({"dataframe_records": as_request_songs(frame)}, max_rows=10)
    assert from_csv == from_json
    assert from_csv[0]["loudness"] is None


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ([], 422, "expected a JSON object"),
        ({"instances": [], "inputs": []}, 422, "exactly one of the keys"),
        ({"songs": []}, 422, "songs: unknown key"),
        ({"instances": [1, 2]}, 422, "instances: must be a list of objects"),
    ],
)
def test_wrong_json_shapes_are_one_line(payload, status, message):
    with pytest.raises(InputError) as caught:
        records_from_json(payload, max_rows=10)
    assert caught.value.status == status
    assert message in caught.value.message
    assert "\n" not in caught.value.message


def test_a_value_outside_the_contract_names_row_field_and_range(songs):
    records = as_request_songs(songs.head(3))
    records[2]["tempo"] = 400.0
    with pytest.raises(InputError) as caught:
        records_from_json({"inputs": records}, max_rows=10)
    low, high = VALUE_RANGES["tempo"]
    assert caught.value.message == (
        f"inputs.2.tempo: 400.0 is outside the allowed range [{low}, {high}]"
    )


def test_too_many_rows_and_bad_csv_are_refused(songs):
    records = as_request_songs(songs.head(3))
    cap = r"at most 2 songs per /invocations request \(the server's cap\), got 3$"
    with pytest.raises(InputError, match=f"^inputs: {cap}"):
        records_from_json({"inputs": records}, max_rows=2)
    # A CSV body over the cap: its rows are counted to the end, not read.
    csv_body = songs.head(3).to_csv(index=False).encode()
    with pytest.raises(InputError, match=f"^csv: {cap}"):
        records_from_csv(csv_body, max_rows=2)
    with pytest.raises(InputError, match="not UTF-8"):
        records_from_csv(b"\xff\xfe\x00", max_rows=2)
    with pytest.raises(InputError, match="no header row"):
        records_from_csv(b"", max_rows=2)


def test_prepare_adds_absent_optional_columns_and_the_text_feature(songs):
    frame = songs.head(3)[list(REQUIRED_INPUT_COLUMNS)]
    prepared = INPUTS.prepare(frame)
    assert set(OPTIONAL_COLUMNS) <= set(prepared.columns)
    # Absent title and song_name are empty text, exactly as preprocess fills missing ones.
    assert prepared[CONTRACT.text_feature].tolist() == [" "] * 3
    assert frame.columns.tolist() == list(REQUIRED_INPUT_COLUMNS)  # the input is not modified


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["tempo"]), "songs.csv: missing required column(s) tempo"),
        (lambda f: f.assign(tempo="fast"), "songs.csv: column 'tempo' must hold numbers"),
        (lambda f: f.assign(tempo=[1.0, None, 2.0]), "songs.csv: column 'tempo' is empty in row 1"),
    ],
)
def test_prepare_refuses_bad_frames_in_one_line(songs, change, message):
    frame = change(songs.head(3).reset_index(drop=True))
    with pytest.raises(DataFileError) as caught:
        INPUTS.prepare(pd.DataFrame(frame), "songs.csv")
    assert str(caught.value).startswith(message)
