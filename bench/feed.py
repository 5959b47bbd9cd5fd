"""Benchmark: the events feed: recording with the catalogue's check, draining, lag, retention.

Run with `.venv/bin/python -m bench.feed` (about a minute; `--events N` to change the size).
It starts, and stops by pid, embedded PostgreSQL and Redis (or uses DATABASE_URL /
REDIS_URL), migrates a database of its own, and runs everything in-process with the app's
own code: `events.record` (validated against the catalogue) against a plain insert of the
same rows; `drain_consumer` with a no-op handler and with one writing an effect row per
event, at two batch sizes; the lag query; the retention purge; and the plan of a batch read.
Progress on stderr, the table on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench._servers import BenchServers

ORDER_PAID = {
    "number": 1,
    "funnel_id": None,
    "contact_id": None,
    "step_id": None,
    "amount_cents": 4900,
    "currency": "USD",
}


@dataclass
class Row:
    """One measured line of the table."""

    what: str
    events: int
    seconds: float

    def render(self) -> str:
        """The row as a Markdown table line."""
        rate = self.events / self.seconds if self.seconds else float("inf")
        per = self.seconds / self.events * 1e6 if self.events else 0.0
        return f"| {self.what} | {self.events} | {self.seconds:.2f} | {rate:,.0f} | {per:.1f} |"


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of fn() and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _account() -> uuid.UUID:
    """A fresh account for the bench's events."""
    from domain.accounts.models import Account
    from domain.shared.db import unit_of_work

    account_id = uuid.uuid4()
    with unit_of_work() as session:
        session.add(
            Account(id=account_id, name="Bench", slug=f"b{account_id.hex[:10]}",
                    publishable_key=f"pk_{account_id.hex}")
        )  # fmt: skip
    return account_id


def record_events(account_id: uuid.UUID, n: int, *, checked: bool) -> None:
    """n order.paid events, 1000 per transaction, through events.record or a plain insert."""
    from domain.shared import events
    from domain.shared.db import unit_of_work, utcnow

    for start in range(0, n, 1000):
        with unit_of_work() as session:
            for _ in range(min(1000, n - start)):
                payload = {**ORDER_PAID, "order_id": str(uuid.uuid4())}
                if checked:
                    events.record(
                        session, account_id=account_id, type="order.paid", payload=payload
                    )
                else:
                    session.add(
                        events.DomainEvent(
                            account_id=account_id, type="order.paid", payload=payload,
                            occurred_at=utcnow(),
                        )
                    )  # fmt: skip


def drain(name: str, handler: Any, batch_size: int) -> int:
    """Run a fresh consumer from the start of the feed until caught up; events handed."""
    from domain.events import feed
    from workers.tasks.events import drain_consumer

    seen = [0]

    def counting(session: Any, batch: list[Any]) -> None:
        seen[0] += len(batch)
        handler(session, batch)

    consumer = feed.register(name, counting, batch_size=batch_size)
    try:
        while drain_consumer(consumer, max_batches=10_000):
            pass
    finally:
        feed.unregister(name)
    return seen[0]


def effect_rows(session: Any, batch: list[Any]) -> None:
    """An effect per event: one row in a table of the bench's own, in the batch."""
    from sqlalchemy import text

    session.execute(
        text("INSERT INTO bench_effects (event_id) VALUES (:e)"), [{"e": e.id} for e in batch]
    )


def run(n: int) -> tuple[list[Row], list[str]]:
    """Every measurement; the rows and notes of the table."""
    from sqlalchemy import text

    from domain.events import service
    from domain.shared.db import unit_of_work, utcnow
    from workers.tasks.events import purge

    rows: list[Row] = []
    notes: list[str] = []
    account_id = _account()
    with unit_of_work() as session:
        session.execute(text("CREATE TABLE bench_effects (event_id bigint NOT NULL)"))
        version = session.scalar(text("SHOW server_version"))
        notes.append(f"PostgreSQL {version}")

    log(f"recording {n} events with the catalogue's check ...")
    seconds, _ = timed(lambda: record_events(account_id, n, checked=True))
    rows.append(Row("events.record (validated), 1000 per commit", n, seconds))
    log(f"recording {n} events as plain inserts ...")
    seconds, _ = timed(lambda: record_events(account_id, n, checked=False))
    rows.append(Row("plain insert of the same rows, 1000 per commit", n, seconds))
    total = 2 * n

    for batch_size in (200, 1000):
        log(f"draining {total} events, no-op handler, batch {batch_size} ...")
        seconds, handed = timed(lambda b=batch_size: drain(f"bench.noop{b}", lambda *_: None, b))
        assert handed == total, (handed, total)
        rows.append(Row(f"drain, no-op handler, batch {batch_size}", total, seconds))
    log(f"draining {total} events writing an effect row each, batch 200 ...")
    seconds, handed = timed(lambda: drain("bench.effects", effect_rows, 200))
    assert handed == total
    rows.append(Row("drain, an effect row per event, batch 200", total, seconds))

    with unit_of_work() as session:
        session.execute(text("DELETE FROM event_consumers WHERE name LIKE 'bench.noop%'"))
        session.execute(
            text("UPDATE event_consumers SET last_tx_id = '0', last_event_id = 0")
        )  # bench.effects back at the start: the whole table is its lag
        seconds, lags = timed(lambda: service.consumer_lags(session))
        assert lags == {"bench.effects": total}, lags
        rows.append(Row("consumer_lags, one consumer at the start", total, seconds))
        plan = session.execute(
            text(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)"
                " SELECT * FROM domain_events WHERE (tx_id, id) > ('0'::xid8, :mid)"
                " AND tx_id < pg_snapshot_xmin(pg_current_snapshot())"
                " ORDER BY tx_id, id LIMIT 200"
            ),
            {"mid": total // 2},
        ).scalars()
        notes.append("A batch read (200 events after a cursor mid-table):")
        notes.extend(f"    {line}" for line in plan)
    drain("bench.effects", effect_rows, 1000)

    log("purging (every event made older than the retention) ...")
    with unit_of_work() as session:
        session.execute(text("ALTER TABLE domain_events DISABLE TRIGGER domain_events_append_only"))
        past = utcnow() - timedelta(days=400)
        session.execute(text("UPDATE domain_events SET occurred_at = :t"), {"t": past})
        session.execute(text("ALTER TABLE domain_events ENABLE TRIGGER domain_events_append_only"))
    seconds, result = timed(purge)
    assert result["deleted"] == total, result
    rows.append(Row("events.purge, all retained events expired and consumed", total, seconds))
    return rows, notes


def main() -> None:
    """Start the servers, run, print the table, stop what was started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=25_000, help="events per recording run")
    args = parser.parse_args()
    servers = BenchServers(prefix="funnels_bench_feed")
    servers.start()
    try:
        os.environ.update(
            {
                "DATABASE_URL": servers.database_url,
                "REDIS_URL": servers.redis_url,
                "ENVIRONMENT": "test",
                "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            }
        )
        rows, notes = run(args.events)
    finally:
        from domain.shared.db import dispose_engine

        dispose_engine()
        servers.stop()
    print("| what | events | seconds | events/s | µs/event |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row.render())
    print()
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
