"""Shapes of the email-provider integrations: connect, change, show (never the credentials)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from domain.integrations.models import (
    PROVIDERS,
    IntegrationStatus,
    Provider,
    SyncStatus,
)
from domain.shared.schemas import InputModel, OutputModel, PatchModel, SafeStr

# A contact field a provider field can be filled from: a column, or one of its attributes.
CONTACT_FIELD = r"^(first_name|last_name|phone|source|attributes\.[A-Za-z0-9_\-]{1,64})$"
ProviderField = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,100}$")]
ContactField = Annotated[str, StringConstraints(pattern=CONTACT_FIELD)]
Tag = Annotated[SafeStr, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Secret = Annotated[SafeStr, StringConstraints(min_length=8, max_length=500)]


class Credentials(InputModel):
    """The provider's API key (and, for ActiveCampaign, the account name); write-only."""

    api_key: Secret = Field(
        description="Mailchimp `…-<dc>` API key, SendGrid API key, ActiveCampaign API token"
    )
    account: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9\-]{0,62}$",
        description="ActiveCampaign only: the `<account>` of `<account>.api-us1.com`",
    )


class IntegrationSettings(InputModel):
    """Where contacts go and how they are shaped."""

    list_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="the list (Mailchimp audience) contacts join; required for Mailchimp",
    )
    tags: list[Tag] = Field(
        default_factory=list, max_length=20, description="tags every pushed contact gets"
    )
    field_mapping: dict[ProviderField, ContactField] = Field(
        default_factory=dict,
        max_length=50,
        description="provider field (Mailchimp merge tag, SendGrid custom field id, "
        "ActiveCampaign field id) → contact field (`phone`, `source`, `attributes.<key>`, ...)",
    )
    tags_field_id: ProviderField | None = Field(
        default=None, description="SendGrid only: a text custom field the tags are written to"
    )
    auto_sync: bool = Field(
        default=True, description="push new opt-ins and buyers as they happen (events feed)"
    )


def _check_provider(
    provider: str, credentials: Credentials | None, settings: IntegrationSettings | None
) -> None:
    """What one provider needs of the credentials and settings."""
    if credentials is not None:
        if provider == "mailchimp":
            _, dash, dc = credentials.api_key.rpartition("-")
            if not dash or not dc.isalnum() or not _:
                raise ValueError("credentials.api_key: a Mailchimp key ends in -<dc>, like …-us6")
        if provider == "activecampaign" and not credentials.account:
            raise ValueError("credentials.account: ActiveCampaign needs the account name")
    if settings is not None and provider == "mailchimp" and not settings.list_id:
        raise ValueError("settings.list_id: Mailchimp needs the audience id")


class IntegrationIn(InputModel):
    """Connect an email provider."""

    provider: Provider = Field(description=f"one of {', '.join(PROVIDERS)}")
    name: SafeStr | None = Field(default=None, min_length=1, max_length=100)
    credentials: Credentials
    settings: IntegrationSettings = Field(default_factory=IntegrationSettings)
    enabled: bool = True

    @model_validator(mode="after")
    def _fits_provider(self) -> IntegrationIn:
        _check_provider(self.provider, self.credentials, self.settings)
        return self


class IntegrationPatch(PatchModel):
    """Change the fields sent; settings are replaced whole; new credentials mean a new test."""

    name: SafeStr | None = Field(default=None, min_length=1, max_length=100)
    credentials: Credentials | None = None
    settings: IntegrationSettings | None = None
    enabled: bool | None = None


class IntegrationOut(OutputModel):
    """A connection to an email provider; the credentials are never shown back."""

    id: uuid.UUID
    provider: Provider
    name: str
    enabled: bool
    status: IntegrationStatus = Field(
        description="untested, connected (the last test or sync worked), or failed"
    )
    status_reason: str | None = Field(description="why it failed, in the provider's words")
    settings: dict[str, Any]
    last_tested_at: datetime | None
    last_synced_at: datetime | None = Field(description="when a sync last finished")
    created_at: datetime
    updated_at: datetime


class IntegrationJobOut(OutputModel):
    """Work accepted: poll GET /api/v1/jobs/{job_id}."""

    integration_id: uuid.UUID
    job_id: uuid.UUID
    status: str = Field(description="the job's status: queued")


class SyncErrorOut(OutputModel):
    """Why one contact was refused."""

    contact_id: uuid.UUID
    error: str


class SyncLogOut(OutputModel):
    """What one sync run did."""

    id: uuid.UUID
    integration_id: uuid.UUID
    job_id: uuid.UUID | None
    trigger: str = Field(description="manual (POST …/sync) or event (an opt-in or a purchase)")
    status: SyncStatus = Field(
        description="succeeded; partial (some contacts wait for a retry); failed"
    )
    started_at: datetime
    finished_at: datetime
    candidates: int = Field(description="consenting contacts changed since they were pushed")
    pushed: int
    failed: int = Field(description="refused by the provider for good (see errors)")
    left_for_retry: int = Field(description="not pushed this run; the job retries them later")
    errors: list[SyncErrorOut]
    message: str | None


class ProviderListOut(OutputModel):
    """A list (Mailchimp audience) a client can pick for settings.list_id."""

    id: str
    name: str


class ProviderListsOut(OutputModel):
    """The provider's lists."""

    items: list[ProviderListOut]
