"""Long-lived API keys for server-to-server clients."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from api.deps import CurrentUser, DbSession, Pagination
from domain.accounts import service as accounts
from domain.accounts.schemas import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut
from domain.shared.db import utcnow
from domain.shared.schemas import Page, page_of

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])


@router.post("", response_model=ApiKeyCreatedOut, status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyIn, principal: CurrentUser, db: DbSession) -> ApiKeyCreatedOut:
    """A new key; its secret is in this answer only (it is stored hashed)."""
    key, secret = accounts.create_api_key(db, principal, body.name, utcnow())
    return ApiKeyCreatedOut.model_validate(
        {**ApiKeyOut.model_validate(key).model_dump(), "key": secret}
    )


@router.get("", response_model=Page[ApiKeyOut])
def list_api_keys(principal: CurrentUser, db: DbSession, page: Pagination) -> Page[ApiKeyOut]:
    """The account's keys, without their secrets."""
    rows, total = accounts.list_api_keys(db, principal.account_id, page)
    return page_of(ApiKeyOut, rows, total, page)


@router.delete("/{api_key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(api_key_id: uuid.UUID, principal: CurrentUser, db: DbSession) -> None:
    """Revoke a key: it stops working at once."""
    accounts.revoke_api_key(db, principal.account_id, api_key_id, utcnow())
