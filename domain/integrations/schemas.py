"""Shapes of the email-provider integrations: connect, change, show (never the credentials)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints

from domain.integrations.models import IntegrationStatus, Provider, SyncStatus
from domain.shared.schemas import InputModel, OutputModel, PatchModel, SafeStr

# A contact field a provider field can be filled from: a column, or one of its attributes.
CONTACT_FIELD = r"^(first_name|last_name|phone|source|attributes\.[A-Za-z0-9_\-]{1,64})$"
ProviderField = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,100}$")]
ContactField = Annotated[str, StringConstraints(pattern=CONTACT_FIELD)]
Tag = Annotated[SafeStr, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
ListId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,100}$")]
# Printable ASCII without spaces: what the three providers' keys are made of.
Secret = Annotated[str, StringConstraints(pattern=r"^[!-~]{8,500}$")]
# Mailchimp's key names its datacenter: `…-us6` (the API's host is https://us6.api…).
MailchimpKey = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,200}-[a-z]{1,10}[0-9]{1,5}$")]
Account = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9\-]{0,62}$")]


class FieldMap(InputModel):
    """One provider field filled from one contact field."""

    field: ProviderField = Field(
        description="Mailchimp merge tag, SendGrid custom field id, ActiveCampaign field id"
    )
    source: ContactField = Field(
        description="`first_name`, `last_name`, `phone`, `source` or `attributes.<key>`"
    )


class CommonSettings(InputModel):
    """What every provider's settings have."""

    tags: list[Tag] = Field(
        default_factory=list, max_length=20, description="tags every pushed contact gets"
    )
    field_mapping: list[FieldMap] = Field(default_factory=list, max_length=50)
    auto_sync: bool = Field(
        default=True, description="push new opt-ins and buyers as they happen (events feed)"
    )


class MailchimpSettings(CommonSettings):
    """A Mailchimp audience."""

    list_id: ListId = Field(description="the audience contacts join")


class SendGridSettings(CommonSettings):
    """SendGrid contacts, optionally on a list."""

    list_id: ListId | None = Field(default=None, description="the list contacts join")
    tags_field_id: ProviderField | None = Field(
        default=None, description="a text custom field the tags are written to (no tags there)"
    )


class ActiveCampaignSettings(CommonSettings):
    """ActiveCampaign contacts, optionally on a list."""

    list_id: ListId | None = Field(default=None, description="the list contacts join")


class MailchimpCredentials(InputModel):
    """Write-only."""

    api_key: MailchimpKey = Field(description="the API key, ending in `-<dc>`")


class SendGridCredentials(InputModel):
    """Write-only."""

    api_key: Secret = Field(description="an API key with Marketing scopes")


class ActiveCampaignCredentials(InputModel):
    """Write-only."""

    api_key: Secret = Field(description="the API token")
    account: Account = Field(description="the `<account>` of `<account>.api-us1.com`")


class _Connect(InputModel):
    """What connecting any provider takes."""

    name: SafeStr | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool = True


class MailchimpIn(_Connect):
    """Connect Mailchimp."""

    provider: Literal["mailchimp"]
    credentials: MailchimpCredentials
    settings: MailchimpSettings


class SendGridIn(_Connect):
    """Connect SendGrid."""

    provider: Literal["sendgrid"]
    credentials: SendGridCredentials
    settings: SendGridSettings = Field(default_factory=SendGridSettings)


class ActiveCampaignIn(_Connect):
    """Connect ActiveCampaign."""

    provider: Literal["activecampaign"]
    credentials: ActiveCampaignCredentials
    settings: ActiveCampaignSettings = Field(default_factory=ActiveCampaignSettings)


IntegrationIn = Annotated[
    MailchimpIn | SendGridIn | ActiveCampaignIn, Field(discriminator="provider")
]


class CredentialsPatch(InputModel):
    """New credentials; an ActiveCampaign account left out stays as it was."""

    api_key: Secret
    account: Account | None = None


class SettingsPatch(PatchModel):
    """The settings sent replace theirs; the others stay."""

    nullable: ClassVar[frozenset[str]] = frozenset({"tags_field_id"})

    list_id: ListId | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    field_mapping: list[FieldMap] | None = Field(default=None, max_length=50)
    auto_sync: bool | None = None
    tags_field_id: ProviderField | None = Field(default=None, description="SendGrid only")


class IntegrationPatch(PatchModel):
    """Change the fields sent; new credentials or another list mean a new test."""

    name: SafeStr | None = Field(default=None, min_length=1, max_length=100)
    credentials: CredentialsPatch | None = None
    settings: SettingsPatch | None = None
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
