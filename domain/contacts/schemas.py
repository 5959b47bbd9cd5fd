"""Shapes of the contacts context."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from domain.shared.schemas import OutputModel


class ContactOut(OutputModel):
    """A lead or customer."""

    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    source: str | None
    attributes: dict[str, Any]
    marketing_consent: bool = Field(description="agreed to receive marketing email")
    consent_at: datetime | None = Field(description="when consent was last given")
    consent_source: str | None = Field(description="where consent was last given")
    last_seen_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ContactErasedOut(OutputModel):
    """What an erasure did (docs/integrations.md#erasure)."""

    id: uuid.UUID = Field(description="the contact, now deleted")
    orders_anonymised: int = Field(description="orders that lost the name, address and visitor")
    provider_jobs: list[uuid.UUID] = Field(
        description="one job per connected email provider deleting the person there"
    )
