"""The baselines of bench/ingest.py: a bare FastAPI app parsing an event and answering 202.

`POST /track` parses the event into a plain pydantic model and answers 202 (what the issue
calls the bare route); `POST /track-xadd` does the same plus one XADD per request, awaited
(the naive way to be durable, one round trip per request). No middleware, no auth.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

app = FastAPI()
_redis: aioredis.Redis | None = None


class Event(BaseModel):
    """The fields of a tracked event, plainly typed."""

    event_id: str
    type: str
    funnel_id: uuid.UUID
    step_id: uuid.UUID | None = None
    page_id: uuid.UUID | None = None
    visitor_id: str
    session_id: str
    occurred_at: datetime | None = None
    properties: dict[str, Any] = {}


@app.post("/track", status_code=202)
async def track(event: Event) -> JSONResponse:
    """Parse, answer 202."""
    return JSONResponse({"accepted": 1, "event_id": event.event_id}, status_code=202)


@app.post("/track-xadd", status_code=202)
async def track_xadd(event: Event) -> JSONResponse:
    """Parse, XADD (one round trip), answer 202."""
    global _redis
    if _redis is None:
        _redis = aioredis.Redis.from_url(os.environ["REDIS_URL"])
    await _redis.xadd("bench:bare", {"events": event.model_dump_json()})
    return JSONResponse({"accepted": 1, "event_id": event.event_id}, status_code=202)
