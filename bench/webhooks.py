"""Benchmark: outgoing webhooks, committed event → delivered, against bare signed httpx POSTs.

Run with `.venv/bin/python -m bench.webhooks` (about a minute; `--deliveries N`,
`--endpoints K`). It starts, and stops by pid, embedded PostgreSQL and Redis (or uses
DATABASE_URL / REDIS_URL), a receiver process (uvicorn, bench/_webhook_receiver.py) and
two Celery workers: one running the events feed's consumers (queue default) and ONE
worker process running the dispatcher (queue webhooks, prefork concurrency 1).

1. Baseline: the same number of POSTs, each signed like a delivery, sent by httpx's
   AsyncClient from this process, 100 at a time, to the same receiver.
2. Pipeline: events committed in transactions of 500 → the consumer writes deliveries →
   the dispatcher sends them; latency is receiver arrival minus the event's commit.
3. The same again with one more endpoint that hangs for 15 s on every request: the other
   endpoints' latencies beside it.
Progress on stderr, the table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._servers import ROOT, BenchServers
from devtools.embedded import free_port


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Result:
    """One measured line: how many, over how long, and the latencies."""

    what: str
    count: int
    seconds: float
    latencies: list[float]

    def render(self, baseline: Result | None) -> str:
        """A Markdown table line."""
        rate = self.count / self.seconds
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        ratio = f"{rate / (baseline.count / baseline.seconds):.0%}" if baseline else "100%"
        return f"| {self.what} | {self.count} | {rate:,.0f} | {p50:,.0f} | {p99:,.0f} | {ratio} |"


class Processes:
    """Subprocesses of the run, each stopped by its pid."""

    def __init__(self, env: dict[str, str], work_dir: str) -> None:
        self.env = env
        self.work_dir = Path(work_dir)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str], ready: str | None = None) -> None:
        """Start command; wait for `ready` in its log when given."""
        log_path = self.work_dir / f"{name}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while ready and ready not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM each process group, SIGKILL what is left."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def worker_command(name: str, queues: str) -> list[str]:
    """A Celery worker with one pool process on the given queues."""
    return [
        str(Path(sys.executable).parent / "celery"),
        "-A", "workers.celery_app:celery_app", "worker", "-Q", queues,
        "--pool", "prefork", "--concurrency", "1", "-n", f"{name}@%h",
        "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
    ]  # fmt: skip


def arrivals(receiver: str) -> dict[str, float]:
    """What the receiver noted since the last call."""
    return httpx.get(f"{receiver}/arrivals", timeout=10).json()  # type: ignore[no-any-return]


async def baseline(receiver: str, n: int, endpoints: int) -> Result:
    """n signed POSTs through a plain AsyncClient, 100 in flight."""
    from domain.integrations.webhooks.signing import new_secret, signature_headers
    from domain.shared.db import utcnow

    secret = new_secret()
    body = '{"type":"contact.created","data":{"contact_id":"x"}}'
    gate = asyncio.Semaphore(100)
    # One small pool per endpoint, as the dispatcher has: one pool of 100 busy connections
    # is about 3x slower in httpx 0.28 (measured here).
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    clients = [httpx.AsyncClient(timeout=15, limits=limits) for _ in range(endpoints)]

    async def one(i: int) -> None:
        async with gate:
            headers = signature_headers(
                message_id=f"base_{i}", body=body, secrets=[secret], timestamp=utcnow()
            )
            url = f"{receiver}/e{i % endpoints}"
            await clients[i % endpoints].post(url, content=body, headers=headers)

    start = time.time()
    await asyncio.gather(*(one(i) for i in range(n)))
    for client in clients:
        await client.aclose()
    got = arrivals(receiver)
    what = "bare signed httpx POSTs, 100 in flight, this process"
    return Result(what, n, max(got.values()) - start, [t - start for t in got.values()])


def setup_account(receiver: str, endpoints: int, hanging: bool) -> tuple[uuid.UUID, set[uuid.UUID]]:
    """An account with `endpoints` healthy endpoints (and a hanging one); the healthy ids."""
    from domain.accounts.models import Account
    from domain.integrations import crypto
    from domain.integrations.webhooks.models import Webhook
    from domain.shared.db import unit_of_work

    account_id = uuid.uuid4()
    healthy = set()
    with unit_of_work() as session:
        session.add(Account(id=account_id, name="Bench", slug=f"b{account_id.hex[:10]}",
                            publishable_key=f"pk_{account_id.hex}"))  # fmt: skip
        session.flush()
        for i in range(endpoints + int(hanging)):
            path = "hang" if i == endpoints else f"e{i}"
            webhook = Webhook(
                account_id=account_id,
                url=f"{receiver}/{path}",
                event_types=["contact.created"],
                secret=crypto.encrypt_text("whsec_" + "A" * 44),
            )
            session.add(webhook)
            session.flush()
            if path != "hang":
                healthy.add(webhook.id)
    return account_id, healthy


def beat() -> None:
    """What beat does every few seconds (the wakes after commit usually beat it)."""
    from workers.celery_app import celery_app

    celery_app.send_task("events.drain", queue="default")
    celery_app.send_task("webhooks.dispatch", queue="webhooks")


def record(account_id: uuid.UUID, n: int) -> dict[int, float]:
    """n contact.created events, 500 per transaction; event id → commit time."""
    from domain.shared import events
    from domain.shared.db import unit_of_work

    committed: dict[int, float] = {}
    for start in range(0, n, 500):
        with unit_of_work() as session:
            ids = []
            for _ in range(min(500, n - start)):
                contact = uuid.uuid4()
                payload = {
                    "contact_id": contact,
                    "email": f"{contact.hex}@example.com",
                    "source": None,
                }
                event = events.record(session, account_id=account_id, type="contact.created",
                                      subject_id=contact, payload=payload)  # fmt: skip
                ids.append(event)
            session.flush()
            event_ids = [e.id for e in ids]
        at = time.time()
        committed.update(dict.fromkeys(event_ids, at))
    return committed


def pipeline(what: str, receiver: str, events_n: int, endpoints: int, hanging: bool) -> Result:
    """Commit events for the endpoints, wait for every healthy delivery at the receiver."""
    from sqlalchemy import select

    from domain.integrations.webhooks.models import WebhookDelivery
    from domain.shared.db import unit_of_work

    account_id, healthy = setup_account(receiver, endpoints, hanging)
    want = events_n * endpoints
    start = time.time()
    committed = record(account_id, events_n)
    got: dict[str, float] = {}
    deadline = time.monotonic() + 300
    while True:
        got.update(arrivals(receiver))
        healthy_got = sum(1 for k in got if not k.startswith("base_"))
        if healthy_got >= want or time.monotonic() > deadline:
            break
        beat()
        time.sleep(0.5)
    with unit_of_work() as session:
        rows = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.event_id, WebhookDelivery.webhook_id).where(
                WebhookDelivery.account_id == account_id
            )
        ).all()
    lat = []
    last = start
    for delivery_id, event_id, webhook_id in rows:
        at = got.get(f"msg_{delivery_id.hex}")
        if webhook_id in healthy and at is not None and event_id in committed:
            lat.append(at - committed[event_id])
            last = max(last, at)
    if len(lat) < want:
        log(f"{what}: only {len(lat)} of {want} delivered in time")
    if hanging:
        log(f"{hung_attempts(account_id, healthy)} attempts to the hanging endpoint timed out")
    return Result(what, len(lat), last - start, lat)


def hung_attempts(account_id: uuid.UUID, healthy: set[uuid.UUID]) -> int:
    """Attempts to the account's hanging endpoint that ended in a timeout."""
    from sqlalchemy import func, select

    from domain.integrations.webhooks.models import WebhookAttempt
    from domain.shared.db import unit_of_work

    with unit_of_work() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(WebhookAttempt)
                .where(
                    WebhookAttempt.account_id == account_id,
                    WebhookAttempt.webhook_id.not_in(healthy),
                    WebhookAttempt.error.like("%Timeout%"),
                )
            )
            or 0
        )


def run(args: argparse.Namespace, servers: BenchServers) -> list[tuple[Result, Result | None]]:
    """Start the receiver and workers, measure, stop them."""
    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    env = {**os.environ}
    procs = Processes(env, servers.work_dir)
    try:
        procs.start("receiver", [str(Path(sys.executable).parent / "uvicorn"),
                                 "bench._webhook_receiver:app", "--port", str(port),
                                 "--log-level", "warning", "--no-access-log", "--loop", "uvloop",
                                 "--http", "httptools", "--backlog", "2048"])  # fmt: skip
        time.sleep(1.5)
        procs.start("consumers", worker_command("consumers", "default"), ready=None)
        procs.start("dispatcher", worker_command("dispatcher", "webhooks"), ready=None)
        time.sleep(6)  # workers up
        from workers import publisher

        publisher.install()
        n = args.deliveries
        per_endpoint = max(1, n // args.endpoints)
        log("baseline ...")
        base = asyncio.run(baseline(receiver, per_endpoint * args.endpoints, args.endpoints))
        log("pipeline ...")
        plain = pipeline("webhooks pipeline, 1 dispatcher process", receiver, per_endpoint,
                         args.endpoints, hanging=False)  # fmt: skip
        log("pipeline beside a hanging endpoint ...")
        hang = pipeline("the same, beside one endpoint hanging 15 s per request", receiver,
                        per_endpoint, args.endpoints, hanging=True)  # fmt: skip
        return [(base, None), (plain, base), (hang, base)]
    finally:
        procs.stop()


def main() -> None:
    """Start the servers, run, print the table, stop what was started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000, help="deliveries per run")
    parser.add_argument("--endpoints", type=int, default=25, help="healthy endpoints")
    args = parser.parse_args()
    servers = BenchServers(prefix="funnels_bench_webhooks")
    servers.start()
    try:
        os.environ.update(
            {
                "DATABASE_URL": servers.database_url,
                "REDIS_URL": servers.redis_url,
                "CELERY_BROKER_URL": servers.redis_url,
                "ENVIRONMENT": "test",
                "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                "ALLOW_PRIVATE_WEBHOOK_URLS": "true",
            }
        )
        rows = run(args, servers)
    finally:
        from domain.shared.db import dispose_engine

        dispose_engine()
        servers.stop()
    print("| what | deliveries | deliveries/s | p50 ms | p99 ms | of baseline's rate |")
    print("|---|---|---|---|---|---|")
    for row, base in rows:
        print(row.render(base))


if __name__ == "__main__":
    main()
