"""Fixtures of the ingestion tests: a funnel, and the stream read back from Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from domain.analytics import ingest
from domain.analytics.stream import STREAM_KEY, decode_entry
from tests.support.funnels import ok


def make_funnel(client: Any, headers: dict[str, str]) -> str:
    """A new draft funnel's id."""
    body = {"name": "Tracked", "funnel_type": "sales"}
    return str(ok(client.post("/api/v1/funnels", json=body, headers=headers), 201)["id"])


@pytest.fixture
def funnel(client: Any, tenant: Any) -> str:
    """A funnel of the tenant."""
    return make_funnel(client, tenant.headers)


class StreamTail:
    """The entries appended to the analytics stream since the test began, read back."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        last = self.client.xrevrange(STREAM_KEY, count=1)
        self.start = last[0][0] if last else "0-0"

    def entries(self, account_id: uuid.UUID) -> list[tuple[uuid.UUID, Any, list[dict[str, Any]]]]:
        """The new entries of one account, decoded."""
        found = self.client.xrange(STREAM_KEY, min=f"({self.start}")
        decoded = [decode_entry(fields) for _, fields in found]
        return [entry for entry in decoded if entry[0] == account_id]

    def events(self, account_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every new event of one account, in order."""
        return [event for entry in self.entries(account_id) for event in entry[2]]


@pytest.fixture
def stream(servers: Any) -> Iterator[StreamTail]:
    """The stream from here on (entries of other tests are told apart by account)."""
    tail = StreamTail(servers.redis_url)
    yield tail
    tail.client.close()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test sees keys and funnels as the database has them now."""
    ingest.forget_cached()
    yield
    ingest.forget_cached()
