"""The API's errors: one body, ErrorBody, for every 4xx (and the end-of-grace 503), the MLflow-style
codes, what the OpenAPI document says of them, and the handlers that answer them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from music_genre.serving.inputs import InputError, RowInputs, cap_message, one_line

ERROR_CODES: Final = {
    400: "BAD_REQUEST",
    404: "ENDPOINT_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_PARAMETER_VALUE",
    503: "TEMPORARILY_UNAVAILABLE",
}
_REASONS: Final = {
    404: "No such path",
    405: "Method not allowed",
    413: "Request body larger than the server's limit",
    415: "Unsupported content type",
    422: "The request does not satisfy the input contract, or has more rows than the server's cap",
    503: "The server is stopping and the request did not finish within its grace period (retry it)",
}


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where: body part, row, field.")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every 4xx answer."""

    error: str = Field(
        description="One line: where and what, e.g. `<rows>.1.<column>: ...` (row 1 of the "
        "body's rows, one of its columns)."
    )
    error_code: str = Field(description="MLflow-style code, e.g. INVALID_PARAMETER_VALUE.")
    detail: list[ErrorDetail] = Field(description="Every problem found.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, for its `responses` in the OpenAPI document."""
    return {status: {"model": ErrorBody, "description": _REASONS[status]} for status in statuses}


def error_response(
    status: int, message: str, detail: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body = {
        "error": message,
        "error_code": ERROR_CODES.get(status, "BAD_REQUEST"),
        "detail": detail if detail is not None else [{"loc": [], "msg": message, "type": ""}],
    }
    return JSONResponse(body, status_code=status)


def unsupported_media_type(got: str, accepted: tuple[str, ...]) -> InputError:
    """The 415 of a body whose content type (`got`, '' for none) is not one of `accepted`."""
    expected = " or ".join(accepted)
    return InputError(
        415,
        f"content type '{got or 'none'}' is not supported (expected {expected})",
        [
            {
                "loc": ["header", "content-type"],
                "msg": f"expected {expected}",
                "type": "unsupported_media_type",
            }
        ],
    )


async def _input_error(_: Request, error: InputError) -> Response:
    return error_response(error.status, error.message, error.detail)


async def _invalid_request(request: Request, error: RequestValidationError) -> Response:
    inputs: RowInputs = request.app.state.inputs
    detail = [_request_error(inputs, item, request.url.path) for item in error.errors()]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request", "type": ""}
    if first["type"] == "json_invalid":
        message = f"request body is not valid JSON ({first['msg']})"
        return error_response(422, message, detail)
    return error_response(422, one_line(detail) if detail else "invalid request", detail)


async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
    if error.status_code == 400:  # FastAPI could not read the body (e.g. not UTF-8)
        message = f"request body is not valid JSON ({error.detail})"
        return error_response(
            422, message, [{"loc": ["body"], "msg": message, "type": "json_invalid"}]
        )
    message = str(error.detail) if error.status_code != 404 else f"no such path {request.url.path}"
    response = error_response(error.status_code, message)
    response.headers.update(error.headers or {})  # 405 keeps its Allow header
    return response


def _request_error(inputs: RowInputs, item: dict[str, Any], route: str) -> dict[str, Any]:
    """One error of a request body as {loc, msg, type}; a list over its cap names the cap."""
    described = inputs.describe(item, ())
    described["loc"] = [part for part in described["loc"] if part != "body"]
    cap = (item.get("ctx") or {}).get("max_length")
    noun = inputs.contract.name
    if item["type"] == "too_long" and described["loc"] == [noun] and cap is not None:
        described["msg"] = cap_message(cap, route, item["ctx"].get("actual_length"), noun)
    return described


# The app's exception handlers (FastAPI's `exception_handlers`): one body, ErrorBody, for every 4xx.
EXCEPTION_HANDLERS: Final[
    dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]]
] = {
    InputError: _input_error,
    RequestValidationError: _invalid_request,
    StarletteHTTPException: _http_error,
}
