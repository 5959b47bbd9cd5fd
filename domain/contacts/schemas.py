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
