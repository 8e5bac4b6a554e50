"""The API's one JSON error shape, built by `error_body` alone, and the handlers that map every
error (ours, FastAPI's request validation, Starlette's 404/405) onto it.

    {"error": {"type": "invalid_response", "message": "...", "problems": [{"where", "message"}]}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from synthloop.errors import (
    DatasetExists,
    DatasetNotFound,
    ImportFailed,
    InvalidResponse,
    NotAMember,
    Problem,
    ProblemList,
    RecordNotFound,
    SettingsError,
    SynthloopError,
)

__all__ = ["ApiError", "error_body", "error_response", "install"]

# HTTP status for each library error; anything else a SynthloopError is a 400.
_STATUS: dict[type[SynthloopError], int] = {
    DatasetNotFound: 404,
    RecordNotFound: 404,
    NotAMember: 403,
    DatasetExists: 409,
    InvalidResponse: 422,
    ImportFailed: 422,
    SettingsError: 422,
}
_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid_request",
}


class ApiError(Exception):
    """An error the HTTP layer itself raises (authentication, permission)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error_body(type: str, message: str, problems: Iterable[Problem] = ()) -> dict[str, Any]:
    """The one JSON error shape every error response carries."""
    listed = [{"where": p.where, "message": p.message} for p in problems]
    return {"error": {"type": type, "message": message, "problems": listed}}


def error_response(
    status: int,
    message: str,
    problems: Iterable[Problem] = (),
    type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    kind = type or _TYPES.get(status, "error")
    return JSONResponse(error_body(kind, message, problems), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Route every error the app can raise through `error_response`."""
    app.add_exception_handler(SynthloopError, _library_error)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]


async def _library_error(request: Request, exc: SynthloopError) -> JSONResponse:
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    problems = exc.problems if isinstance(exc, ProblemList) else []
    kind = _snake(type(exc).__name__)
    return error_response(status, str(exc).splitlines()[0], problems, type=kind)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [
        Problem(".".join(str(part) for part in err["loc"]), str(err["msg"])) for err in exc.errors()
    ]
    count = len(problems)
    return error_response(
        422, f"invalid request: {count} problem{'s' if count != 1 else ''}", problems
    )


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
    return error_response(exc.status_code, message, headers=exc.headers)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
