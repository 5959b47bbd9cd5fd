"""Domain errors: each carries its HTTP status and a stable snake_case code."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every error the API turns into the one JSON error body."""

    status_code = 400
    code = "bad_request"
    message = "Bad request"
    # True for errors that record what happened (e.g. a revoked session) before refusing.
    keeps_changes = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class NotFound(AppError):
    """The object does not exist in the caller's account."""

    status_code = 404
    code = "not_found"
    message = "Not found"


class Unauthorized(AppError):
    """Missing or invalid credentials."""

    status_code = 401
    code = "unauthorized"
    message = "Not authenticated"


class Forbidden(AppError):
    """Authenticated, but this credential may not do that."""

    status_code = 403
    code = "forbidden"
    message = "Not allowed"


class Conflict(AppError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"
    message = "Conflict"


class InvalidInput(AppError):
    """Well-formed input that the business rules refuse."""

    status_code = 422
    code = "invalid_input"
    message = "Invalid input"


class RateLimited(AppError):
    """Over a rate limit: the handler adds retry_after to the body."""

    status_code = 429
    code = "rate_limited"
    message = "Rate limit exceeded"

    def __init__(self, *, retry_after: int, headers: dict[str, str]) -> None:
        self.retry_after = retry_after
        super().__init__(headers=headers)


class ServiceUnavailable(AppError):
    """A dependency we need right now is down."""

    status_code = 503
    code = "service_unavailable"
    message = "Service unavailable"
