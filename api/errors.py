"""One JSON error shape for every failure: {"error", "code", "details"?}."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.methods import allowed_methods
from domain.shared.errors import AppError, RateLimited

log = logging.getLogger(__name__)


def error_body(
    message: str, code: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The error body every endpoint answers with."""
    body: dict[str, Any] = {"error": message, "code": code}
    if details:
        body["details"] = details
    return body


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        detail = {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        details.append(detail)
    return details


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    body = error_body(exc.message, exc.code, exc.details)
    if isinstance(exc, RateLimited):
        body["retry_after"] = exc.retry_after
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    allowed = allowed_methods(request.app, request.scope)
    if allowed and request.method not in allowed:
        # A fixed path (/funnels/templates) read as an id by a route of another method.
        return _method_not_allowed(allowed)
    return JSONResponse(
        error_body("Request validation failed", "validation_error", _validation_details(exc)),
        status_code=422,
    )


def _method_not_allowed(allowed: list[str]) -> JSONResponse:
    """405 with every method the path allows (Starlette's Allow names one route's only)."""
    return JSONResponse(
        error_body("Method Not Allowed", "method_not_allowed"),
        status_code=405,
        headers={"Allow": ", ".join(allowed)},
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = allowed_methods(request.app, request.scope)
        if allowed:
            return _method_not_allowed(allowed)
    status = HTTPStatus(exc.status_code)
    code = status.phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if isinstance(exc.detail, str) else status.phrase
    return JSONResponse(error_body(message, code), status_code=exc.status_code, headers=exc.headers)


async def _data_error(_: Request, exc: Exception) -> JSONResponse:
    # A value the database refused (out of range, bad encoding): the caller's input, not a crash.
    # Logged by its SQLSTATE only: PostgreSQL's message quotes the value (an email, say).
    assert isinstance(exc, DataError)
    log.warning("database refused a value (SQLSTATE %s)", getattr(exc.orig, "sqlstate", None))
    return JSONResponse(
        error_body("A value is out of range or malformed", "invalid_data"), status_code=422
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body("Internal server error", "internal_error"), status_code=500)


async def response_for(request: Request, exc: Exception) -> JSONResponse:
    """The answer the installed handlers give for exc (for code running outside the router)."""
    if isinstance(exc, AppError):
        return await _app_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return await _validation_error(request, exc)
    return await _unexpected(request, exc)


def install(app: FastAPI) -> None:
    """Register the handlers."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected)
