"""Stripe's error answers: `{"error": {"type", "code", "message", ...}}` with its HTTP status."""

from __future__ import annotations

from typing import Any

__all__ = ["ParamError", "StripeError", "card_error", "not_found"]

_DOC_URL = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An error the API answers; `store=False` when Stripe would not save it for replay.

    Stripe saves an idempotent result only once an endpoint started executing: a request
    that failed parameter validation or met a concurrent request with the same key can be
    retried with the same key.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        store: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.store = store
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON answer, shaped like Stripe's."""
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = _DOC_URL + self.code.replace("_", "-")
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}


class ParamError(StripeError):
    """A 400 from parameter validation: not saved under an idempotency key."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(400, message, code=code, param=param, store=False)


def not_found(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Stripe's `resource_missing`: 404 for the path's object, 400 for a referenced one.

    Not saved under an idempotency key: nothing began executing.
    """
    return StripeError(
        status,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
        store=False,
    )


def card_error(
    message: str,
    *,
    code: str,
    decline_code: str | None,
    extra: dict[str, Any],
) -> StripeError:
    """A 402 card_error, as a decline or an off-session authentication request answers."""
    return StripeError(
        402, message, type="card_error", code=code, decline_code=decline_code, extra=extra
    )
