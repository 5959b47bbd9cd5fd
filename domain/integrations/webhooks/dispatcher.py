"""The async sender: claims due deliveries and sends many at once inside one worker process.

One loop keeps up to WEBHOOK_CONCURRENCY attempts in flight, at most
WEBHOOK_ENDPOINT_CONCURRENCY per endpoint: a claim skips endpoints already at their limit,
so a slow or dead endpoint holds its own slots for up to WEBHOOK_TIMEOUT_SECONDS and no
others. Finished attempts are recorded in one transaction per turn of the loop. The
database calls run in threads (the ORM is synchronous); the HTTP calls go through the
guarded async client (checked addresses only, no redirects).

A claim moves the delivery's due time forward by a lease longer than an attempt can take:
a worker killed mid-attempt leaves the delivery due again when the lease ends, with the
same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from domain.integrations import crypto
from domain.integrations.webhooks import deliveries
from domain.integrations.webhooks import repository as repo
from domain.integrations.webhooks.client import guarded_async_client
from domain.integrations.webhooks.deliveries import Outcome
from domain.integrations.webhooks.repository import Claimed
from domain.integrations.webhooks.signing import active_secrets, signature_headers
from domain.shared.db import unit_of_work, utcnow
from domain.shared.settings import get_settings

log = logging.getLogger(__name__)

EXCERPT_BYTES = 500
# How often the loop looks for newly due work while attempts are in flight.
POLL_SECONDS = 0.2


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle (tens of ms)."""
    return httpx.create_ssl_context()


def lease_seconds() -> float:
    """How long a claim holds a delivery: longer than any attempt can take."""
    return get_settings().webhook_timeout_seconds * 2 + 5


def _claim(
    free: int, per_endpoint: Counter[uuid.UUID], account_ids: Collection[uuid.UUID] | None
) -> list[Claimed]:
    """Claim up to `free` due deliveries, within each endpoint's remaining allowance."""
    limit = get_settings().webhook_endpoint_concurrency
    saturated = {w for w, n in per_endpoint.items() if n >= limit}
    with unit_of_work() as session:
        now = utcnow()
        candidates = repo.due_candidates(
            session, now=now, per_endpoint=limit, skip=saturated, account_ids=account_ids
        )
        taken: Counter[uuid.UUID] = Counter()
        ids: list[uuid.UUID] = []
        for delivery_id, webhook_id in candidates:
            if len(ids) >= free:
                break
            if per_endpoint[webhook_id] + taken[webhook_id] < limit:
                taken[webhook_id] += 1
                ids.append(delivery_id)
        return repo.claim(
            session, ids, now=now, lease_until=now + timedelta(seconds=lease_seconds())
        )


def _record(outcomes: list[Outcome]) -> None:
    with unit_of_work() as session:
        deliveries.record(session, outcomes, utcnow())


async def _read_excerpt(response: httpx.Response) -> str:
    """The first bytes of the answer, as text (the rest is never read)."""
    chunk = b""
    async for part in response.aiter_raw():
        chunk += part
        if len(chunk) >= EXCERPT_BYTES:
            break
    return chunk[:EXCERPT_BYTES].decode("utf-8", errors="replace")


async def send(client: httpx.AsyncClient, claimed: Claimed) -> Outcome:
    """One attempt: sign with every active secret, POST, note the answer or the error."""
    attempted_at = utcnow()
    previous = crypto.decrypt_text(claimed.previous_secret) if claimed.previous_secret else None
    secrets = active_secrets(
        crypto.decrypt_text(claimed.secret), previous, claimed.secret_rotated_at, attempted_at
    )
    headers = signature_headers(
        message_id=deliveries.message_id(claimed.id),
        body=claimed.body,
        secrets=secrets,
        timestamp=attempted_at,
    )
    headers["content-type"] = "application/json"
    headers["user-agent"] = "funnels-webhooks/1"
    started = time.monotonic()
    common = functools.partial(
        Outcome, delivery_id=claimed.id, webhook_id=claimed.webhook_id, attempted_at=attempted_at
    )
    try:
        request = client.build_request("POST", claimed.url, content=claimed.body, headers=headers)
        response = await client.send(request, stream=True)
        try:
            excerpt = await _read_excerpt(response)
        finally:
            await response.aclose()
    except (httpx.HTTPError, OSError) as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return common(duration_ms=elapsed, error=f"{type(exc).__name__}: {exc}"[:500])
    elapsed = int((time.monotonic() - started) * 1000)
    return common(
        duration_ms=elapsed,
        status_code=response.status_code,
        excerpt=excerpt or None,
        retry_after=deliveries.retry_after_seconds(response.headers.get("retry-after"), utcnow()),
    )


@dataclass
class Run:
    """What one dispatcher run did."""

    sent: int = 0
    succeeded: int = 0
    claims: int = 0
    recorded_batches: int = 0
    endpoints: set[uuid.UUID] = field(default_factory=set)


class Clients:
    """One small connection pool per endpoint: httpx slows down sharply when one pool holds
    a hundred busy connections (measured in bench/webhooks.py), and an endpoint never has
    more than WEBHOOK_ENDPOINT_CONCURRENCY in flight anyway."""

    def __init__(self, shared: httpx.AsyncClient | None) -> None:
        """With `shared` (tests), every endpoint uses that one client."""
        self._shared = shared
        self._clients: dict[uuid.UUID, httpx.AsyncClient] = {}
        self._settings = get_settings()

    def of(self, webhook_id: uuid.UUID) -> httpx.AsyncClient:
        """The endpoint's client, made on first use."""
        if self._shared is not None:
            return self._shared
        client = self._clients.get(webhook_id)
        if client is None:
            client = guarded_async_client(
                timeout=self._settings.webhook_timeout_seconds,
                verify=_tls(),
                max_connections=self._settings.webhook_endpoint_concurrency,
            )
            self._clients[webhook_id] = client
        return client

    async def aclose(self) -> None:
        """Close the clients this made."""
        for client in self._clients.values():
            await client.aclose()


@dataclass
class _Recorder:
    """Records finished attempts in the background, one transaction at a time, so claiming
    and sending never wait for it; what finishes meanwhile goes in the next batch."""

    pending: list[Outcome] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    batches: int = 0

    def add(self, outcome: Outcome) -> None:
        """Queue an outcome for the next batch."""
        self.pending.append(outcome)

    def kick(self) -> None:
        """Start recording what is queued, unless a batch is being recorded."""
        if self.task is not None and self.task.done():
            self.task.result()  # a failed batch surfaces (its deliveries' leases run out)
            self.task = None
        if self.task is None and self.pending:
            batch, self.pending = self.pending, []
            self.task = asyncio.create_task(asyncio.to_thread(_record, batch))
            self.batches += 1

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being recorded."""
        return not self.pending and (self.task is None or self.task.done())

    async def flush(self) -> None:
        """Record everything queued."""
        while not self.idle:
            self.kick()
            if self.task is not None:
                await self.task


async def run(
    *,
    budget_seconds: float = 50.0,
    client: httpx.AsyncClient | None = None,
    account_ids: Collection[uuid.UUID] | None = None,
) -> Run:
    """Send what is due until nothing is due and nothing in flight, or the budget is spent.

    account_ids narrows the run to those accounts (the simulated-time tests).
    """
    settings = get_settings()
    clients = Clients(client)
    deadline = time.monotonic() + budget_seconds
    inflight: dict[asyncio.Task[Outcome], uuid.UUID] = {}
    per_endpoint: Counter[uuid.UUID] = Counter()
    recorder = _Recorder()
    result = Run()
    try:
        while True:
            recorder.kick()
            free = settings.webhook_concurrency - len(inflight)
            if free > 0 and time.monotonic() < deadline:
                claimed = await asyncio.to_thread(_claim, free, per_endpoint, account_ids)
                result.claims += 1
                for item in claimed:
                    task = asyncio.create_task(send(clients.of(item.webhook_id), item))
                    inflight[task] = item.webhook_id
                    per_endpoint[item.webhook_id] += 1
                    result.endpoints.add(item.webhook_id)
            if not inflight:
                await recorder.flush()
                result.recorded_batches = recorder.batches
                return result
            done, _ = await asyncio.wait(
                inflight, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                webhook_id = inflight.pop(task)
                per_endpoint[webhook_id] -= 1
                outcome = task.result()
                recorder.add(outcome)
                result.sent += 1
                result.succeeded += outcome.succeeded
    finally:
        for task in inflight:
            task.cancel()
        await clients.aclose()


def run_sync(
    *, budget_seconds: float = 50.0, account_ids: Collection[uuid.UUID] | None = None
) -> Run:
    """run() on a fresh event loop (the Celery task and in-process tests call this)."""
    return asyncio.run(run(budget_seconds=budget_seconds, account_ids=account_ids))
