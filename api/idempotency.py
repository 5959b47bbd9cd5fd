"""The Idempotency-Key header for endpoints that move money (see domain.shared.idempotency)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from domain.accounts.schemas import Principal
from domain.shared import idempotency
from domain.shared.db import utcnow
from domain.shared.settings import Settings


@dataclass(frozen=True)
class IdempotentRequest:
    """The key the client sent (if any) and what identifies its request."""

    key: str | None
    fingerprint: str


async def _idempotent_request(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Replays the first answer for 24 h when the same request is sent again",
        ),
    ] = None,
) -> IdempotentRequest:
    body = await request.body()  # cached by Starlette: the route still parses it
    return IdempotentRequest(
        key=idempotency_key,
        fingerprint=idempotency.fingerprint(request.method, request.url.path, body),
    )


Idempotency = Annotated[IdempotentRequest, Depends(_idempotent_request)]


def respond(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    request: IdempotentRequest,
    status_code: int | Callable[[Any], int],
    produce: Callable[[], Any],
    headers: Callable[[Any], dict[str, str]] | None = None,
) -> JSONResponse:
    """Answer produce()'s result once per key: replays give back the first answer.

    status_code may depend on the result (a function of the JSON body).
    """
    if request.key is None:
        body = jsonable_encoder(produce())
        return JSONResponse(
            body,
            status_code=_status(status_code, body),
            headers=headers(body) if headers else None,
        )
    now = utcnow()
    # Anonymous checkout callers get a key space of their own: a visitor must never be able
    # to claim (and so answer) a key the merchant's server is about to use.
    scope: idempotency.KeyScope = "public" if principal.kind == "publishable_key" else "merchant"
    stored = idempotency.begin(
        db,
        scope=scope,
        account_id=principal.account_id,
        key=request.key,
        request_fingerprint=request.fingerprint,
        now=now,
    )
    if stored is not None:
        replay_headers = {
            "Idempotent-Replayed": "true",
            **(headers(stored.body) if headers else {}),
        }
        return JSONResponse(stored.body, status_code=stored.status_code, headers=replay_headers)
    body = jsonable_encoder(produce())
    code = _status(status_code, body)
    idempotency.store(
        db,
        scope=scope,
        account_id=principal.account_id,
        key=request.key,
        request_fingerprint=request.fingerprint,
        response=idempotency.StoredResponse(status_code=code, body=body),
        now=now,
        ttl_hours=settings.idempotency_ttl_hours,
    )
    return JSONResponse(body, status_code=code, headers=headers(body) if headers else None)


def _status(status_code: int | Callable[[Any], int], body: Any) -> int:
    """The status of an answer: fixed, or chosen from its body."""
    return status_code(body) if callable(status_code) else status_code
