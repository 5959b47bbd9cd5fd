"""Request and response shapes of the accounts context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field

from domain.shared.schemas import Email, InputModel, OutputModel, PatchModel
from domain.shared.timezones import is_known_timezone, known_timezones, zone


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (JWT), an API key, or a publishable key (checkout and tracking)."""

    account_id: uuid.UUID
    kind: Literal["user", "api_key", "publishable_key"]
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None

    @property
    def rate_limit_key(self) -> str:
        """The bucket this caller's own budget is counted in."""
        if self.kind == "user":
            return f"user:{self.user_id}"
        if self.kind == "api_key":
            return f"api_key:{self.api_key_id}"
        return f"publishable:{self.account_id}"


@dataclass(frozen=True)
class AccountSettings:
    """What other contexts read of an account's settings (accounts.service.settings_of)."""

    account_id: uuid.UUID
    timezone: str
    require_tracking_consent: bool
    version: int

    @property
    def zone(self) -> ZoneInfo:
        """The account's time zone: days in stats and reports are its days."""
        return zone(self.timezone)


class RegisterIn(InputModel):
    """A new account and its owner."""

    email: Email
    password: str = Field(min_length=8, max_length=256)
    account_name: str = Field(min_length=1, max_length=200)
    full_name: str | None = Field(default=None, max_length=200)


class LoginIn(InputModel):
    """Credentials."""

    email: Email
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(InputModel):
    """A refresh token to rotate or revoke."""

    refresh_token: str = Field(min_length=1, max_length=200)


class TokenPair(OutputModel):
    """Access and refresh tokens of one login."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int


class UserOut(OutputModel):
    """A user as its owner sees it."""

    id: uuid.UUID
    email: str
    full_name: str | None
    role: str
    created_at: datetime


class AccountOut(OutputModel):
    """An account with its public tracking key."""

    id: uuid.UUID
    name: str
    slug: str
    publishable_key: str
    timezone: str
    require_tracking_consent: bool
    created_at: datetime


class MeOut(OutputModel):
    """The caller: user, account, publishable key."""

    user: UserOut
    account: AccountOut
    publishable_key: str


class RegisterOut(TokenPair):
    """Registration answers the new login too."""

    user: UserOut
    account: AccountOut


class PublishableKeyOut(OutputModel):
    """The account's current publishable key."""

    publishable_key: str


class ApiKeyIn(InputModel):
    """A name for a new API key."""

    name: str = Field(min_length=1, max_length=100)


class ApiKeyOut(OutputModel):
    """An API key without its secret."""

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    """A new API key: the only time its secret is shown."""

    key: str


def _known_timezone(value: str) -> str:
    """Refuse a name that is not an IANA zone this process can load."""
    if not is_known_timezone(value):
        raise ValueError("not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)")
    return value


TimeZoneName = Annotated[
    str,
    Field(
        max_length=64,
        examples=["Europe/Berlin"],
        description="an IANA time zone name",
        # The rule in the document too: every name this server accepts, so a client can check.
        json_schema_extra={"enum": sorted(known_timezones())},
    ),
    AfterValidator(_known_timezone),
]


class AccountSettingsOut(OutputModel):
    """The account's settings, with the edit version a PATCH may name."""

    id: uuid.UUID
    name: str
    slug: str = Field(description="public URL part of the account's funnels; never changes")
    timezone: str = Field(description="IANA time zone: days in stats and reports are its days")
    require_tracking_consent: bool = Field(
        description="visitors must consent before tracking cookies are set and events stored"
    )
    version: int = Field(description="edit counter: +1 on every change")
    created_at: datetime
    updated_at: datetime


class AccountPatch(PatchModel):
    """Settings to change; only the fields sent change."""

    nullable = frozenset({"version"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: TimeZoneName | None = None
    require_tracking_consent: bool | None = None
    version: int | None = Field(default=None, ge=1, description="the version you edited")
