"""The caller's account settings: name, time zone, tracking consent."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CurrentPrincipal, CurrentUser, DbSession, IfMatchVersion
from domain.accounts import service as accounts
from domain.accounts.schemas import AccountPatch, AccountSettingsOut

router = APIRouter(prefix="/api/v1/account", tags=["account"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "`user_token_required`: an API key cannot change settings"},
    409: {"description": "`version_conflict`: the settings changed since the version named"},
}


@router.get("", response_model=AccountSettingsOut)
def get_account(principal: CurrentPrincipal, db: DbSession) -> AccountSettingsOut:
    """The account's settings (a user's token or an API key)."""
    return AccountSettingsOut.model_validate(accounts.get_account(db, principal.account_id))


@router.patch("", response_model=AccountSettingsOut, responses=_ERRORS)
def update_account(
    body: AccountPatch, principal: CurrentUser, db: DbSession, if_match: IfMatchVersion
) -> AccountSettingsOut:
    """Change settings (a user's access token only; API keys may read them).

    Name the version you edited (body `version` or `If-Match`) to refuse lost updates:
    a stale one is 409 `version_conflict` and nothing changes. `timezone` must be an IANA
    name such as `Europe/Berlin`; days in stats and reports are that zone's days.
    """
    account = accounts.update_account(
        db, account_id=principal.account_id, data=body, expected_version=if_match
    )
    return AccountSettingsOut.model_validate(account)
