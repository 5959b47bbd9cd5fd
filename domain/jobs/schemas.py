"""Response shape of a job."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from domain.shared.schemas import OutputModel


class JobOut(OutputModel):
    """The state and result of a piece of async work."""

    id: uuid.UUID
    task: str
    status: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
