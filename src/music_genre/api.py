"""The REST API: /predict, MLflow-compatible /invocations, /health and /model.

The request model is generated from the feature definitions in music_genre.features, so the API
accepts exactly the columns the pipeline trains on. Only the model file this server was started
with is ever unpickled (after its hash check); requests carry data, never models.
"""

from __future__ import annotations

import logging
import math

# subprocess runs only the fixed `git describe` command below, with no user input.
import subprocess  # nosec B404
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from music_genre.features import OPTIONAL_COLUMNS, RAW_DTYPES, REQUIRED_INPUT_COLUMNS
from music_genre.predict import Predictor

DEFAULT_MAX_BATCH_ROWS = 10_000
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_PYTHON_TYPES = {"float64": float, "int64": int, "str": str}

log = logging.getLogger(__name__)


class _SongBase(BaseModel):
    # Strict: "0.5" is not a number and 4.2 is not a key; unknown fields are errors.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _nan_means_missing(cls, data: Any) -> Any:
        # Clients that serialise pandas frames send NaN for a missing loudness or title.
        if isinstance(data, dict):
            return {
                key: None if key in OPTIONAL_COLUMNS and _is_nan(value) else value
                for key, value in data.items()
            }
        return data


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _song_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: (_PYTHON_TYPES[RAW_DTYPES[name]], ...) for name in REQUIRED_INPUT_COLUMNS
    }
    fields.update(
        {name: (_PYTHON_TYPES[RAW_DTYPES[name]] | None, None) for name in OPTIONAL_COLUMNS}
    )
    return fields


Song = create_model("Song", __base__=_SongBase, **_song_fields())


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    songs: list[Song] = Field(min_length=1)  # type: ignore[valid-type]


class GenrePrediction(BaseModel):
    genre: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[GenrePrediction]


class InvocationsResponse(BaseModel):
    predictions: list[str]


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, declared or streamed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLargeError:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: dict, receive: Any, send: Any) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than {self.max_bytes} bytes"}, status_code=413
        )
        await response(scope, receive, send)


class _BodyTooLargeError(Exception):
    pass


def create_app(
    predictor: Predictor,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    app = FastAPI(
        title="music-genre",
        version=predictor.card.get("versions", {}).get("music-genre", "unknown"),
    )
    model_info = {**predictor.card, "git_revision": _git_revision()}

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return _unprocessable(error.errors())

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/model")
    def model() -> dict[str, Any]:
        return model_info

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> PredictResponse:
        _check_batch(len(request.songs), max_batch_rows)
        proba = _predict(predictor, [song.model_dump() for song in request.songs])
        classes = predictor.classes
        return PredictResponse(
            predictions=[
                GenrePrediction(
                    genre=classes[int(row.argmax())],
                    probabilities={genre: float(p) for genre, p in zip(classes, row, strict=True)},
                )
                for row in proba
            ]
        )

    @app.post("/invocations", response_model=InvocationsResponse)
    def invocations(payload: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        records = _mlflow_records(payload)
        _check_batch(len(records), max_batch_rows)
        songs = _validate_records(records)
        if isinstance(songs, JSONResponse):
            return songs
        proba = _predict(predictor, songs)
        classes = predictor.classes
        return InvocationsResponse(predictions=[classes[int(row.argmax())] for row in proba])

    return BodySizeLimit(app, max_body_bytes)  # type: ignore[return-value]


def _predict(predictor: Predictor, songs: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame.from_records(songs, columns=[*REQUIRED_INPUT_COLUMNS, *OPTIONAL_COLUMNS])
    frame = frame.astype({name: RAW_DTYPES[name] for name in frame.columns})
    return predictor.predict_proba(frame, source="request")


def _check_batch(rows: int, limit: int) -> None:
    if rows > limit:
        raise HTTPException(413, f"{rows} songs in one request; the limit is {limit}")


def _mlflow_records(payload: dict[str, Any]) -> list[dict[str, Any]]:
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if (
            not isinstance(split, dict)
            or not isinstance(split.get("columns"), list)
            or not isinstance(split.get("data"), list)
        ):
            raise HTTPException(422, "dataframe_split needs 'columns' (a list) and 'data' (rows)")
        columns = split["columns"]
        rows = split["data"]
        bad = next(
            (
                i
                for i, row in enumerate(rows)
                if not isinstance(row, list) or len(row) != len(columns)
            ),
            None,
        )
        if bad is not None:
            raise HTTPException(
                422,
                f"dataframe_split row {bad} does not have {len(columns)} values, one per column",
            )
        return [dict(zip(columns, row, strict=True)) for row in rows]
    if "dataframe_records" in payload:
        records = payload["dataframe_records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise HTTPException(422, "dataframe_records must be a list of objects")
        return records
    raise HTTPException(422, "expected a 'dataframe_split' or 'dataframe_records' payload")


def _validate_records(records: list[dict[str, Any]]) -> list[dict[str, Any]] | JSONResponse:
    # MLflow clients send every column of the dataset (type, mode, genre, ...): the columns
    # the model does not use are dropped here rather than rejected.
    known = set(Song.model_fields)
    songs, errors = [], []
    for row, record in enumerate(records):
        try:
            songs.append(
                Song.model_validate(
                    {key: value for key, value in record.items() if key in known}
                ).model_dump()
            )
        except ValidationError as error:
            errors += [
                {**item, "loc": ["body", "records", row, *item["loc"]]}
                for item in error.errors(include_url=False)
            ]
    if not records:
        errors.append(
            {"loc": ["body", "records"], "msg": "no rows to predict", "type": "too_short"}
        )
    return _unprocessable(errors) if errors else songs


def _unprocessable(errors: Any) -> JSONResponse:
    details = [{key: item[key] for key in ("loc", "msg", "type") if key in item} for item in errors]
    first = details[0] if details else {"loc": [], "msg": "invalid request", "type": ""}
    if first["type"] == "json_invalid":
        return JSONResponse(
            {
                "error": f"request body is not valid JSON ({first['msg']} at position "
                f"{first['loc'][-1]})",
                "detail": details,
            },
            status_code=422,
        )
    where = ".".join(str(part) for part in first["loc"][1:]) or "body"
    return JSONResponse({"error": f"{where}: {first['msg']}", "detail": details}, status_code=422)


def _git_revision() -> str | None:
    try:
        result = subprocess.run(  # nosec B603 B607
            ["git", "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None
