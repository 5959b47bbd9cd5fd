"""Benchmark: the analytics drain (stream -> analytics_events) against its baseline.

Run with `.venv/bin/python -m bench.drain` (`--events N`, `--repeats R`). It starts, and
stops by pid, embedded PostgreSQL and Redis (or uses DATABASE_URL / REDIS_URL) and migrates
a database of its own. Each repeat, in the same run and on an emptied table:

- baseline: the issue's COPY into a temp table then `INSERT ... ON CONFLICT DO NOTHING`,
  in transactions of ANALYTICS_DRAIN_BATCH_EVENTS rows, rows made from the same event dicts,
  visitor ordinals already known (a dict);
- drain: the same events appended to the stream beforehand in entries of 500 (not timed),
  then `drain.run` until the stream is empty: XAUTOCLAIM/XREADGROUP, JSON decoding, the
  funnel-ownership check, COPY, numbering new visitors, the insert, XACK + XDEL.

Medians of the repeats; progress on stderr, the table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._servers import BenchServers

PER_ENTRY = 500
EVENT_COLUMNS = (
    "event_id", "type", "source", "funnel_id", "step_id", "page_id", "visitor_id",
    "session_id", "occurred_at", "amount_cents", "currency", "order_id", "ab_test_id",
    "variant_id",
)  # fmt: skip
COPY_COLUMNS = ("account_id", "received_at", *EVENT_COLUMNS, "properties")


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def _tenant() -> tuple[uuid.UUID, uuid.UUID]:
    """A fresh account and a funnel of it."""
    from domain.accounts.models import Account
    from domain.funnels.models import Funnel
    from domain.shared.db import unit_of_work

    account_id, funnel_id = uuid.uuid4(), uuid.uuid4()
    with unit_of_work() as session:
        session.add(
            Account(id=account_id, name="Bench", slug=f"b{account_id.hex[:10]}",
                    publishable_key=f"pk_{account_id.hex}")
        )  # fmt: skip
        session.flush()
        session.add(
            Funnel(id=funnel_id, account_id=account_id, name="F", slug="f", funnel_type="sales")
        )
    return account_id, funnel_id


def _events(funnel_id: uuid.UUID, n: int, visitors: int) -> list[dict[str, Any]]:
    """n page views of `visitors` visitors over the last hour (as ingestion validated them)."""
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        {
            "event_id": f"e{i}",
            "type": "page_view",
            "source": "client",
            "funnel_id": str(funnel_id),
            "step_id": str(uuid.UUID(int=i % 7)),
            "visitor_id": f"v{i % visitors}",
            "session_id": f"s{i % (visitors * 2)}",
            "occurred_at": (start + timedelta(milliseconds=i)).isoformat(),
            "properties": {"path": "/offer", "ref": "ad"},
        }
        for i in range(n)
    ]


def _empty() -> None:
    from sqlalchemy import text

    from domain.shared.db import unit_of_work

    with unit_of_work() as session:
        session.execute(text("TRUNCATE analytics_events, analytics_visitors"))


def baseline(account: uuid.UUID, events: list[dict[str, Any]], batch: int) -> float:
    """COPY -> temp -> INSERT ON CONFLICT of the events; seconds."""
    from sqlalchemy import text

    from domain.shared.db import unit_of_work

    ordinal = {v: i for i, v in enumerate(dict.fromkeys(e["visitor_id"] for e in events))}
    received = datetime.now(UTC).isoformat()
    columns = [*COPY_COLUMNS, "visitor_ordinal"]
    started = time.perf_counter()
    for first in range(0, len(events), batch):
        with unit_of_work() as session:
            session.execute(
                text(
                    "CREATE TEMP TABLE IF NOT EXISTS bench_batch "
                    "(LIKE analytics_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
            )
            driver = session.connection().connection.driver_connection
            assert driver is not None
            copy_sql = f"COPY bench_batch ({', '.join(columns)}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for e in events[first : first + batch]:
                    copy.write_row(
                        [str(account), received, *(e.get(c) for c in EVENT_COLUMNS),
                         json.dumps(e["properties"]), ordinal[e["visitor_id"]]]
                    )  # fmt: skip
            session.execute(
                text(
                    f"INSERT INTO analytics_events ({', '.join(columns)}) "  # noqa: S608
                    f"SELECT {', '.join(columns)} FROM bench_batch "
                    "ON CONFLICT (account_id, event_id, occurred_at) DO NOTHING"
                )
            )
    return time.perf_counter() - started


def drained(account: uuid.UUID, events: list[dict[str, Any]]) -> float:
    """Append the events (untimed), then drain them all; seconds of the drain."""
    from domain.analytics import drain, stream

    r = drain.client()
    r.delete(stream.STREAM_KEY)
    drain.ensure_group(r)
    pipe = r.pipeline(transaction=False)
    now = datetime.now(UTC)
    for first in range(0, len(events), PER_ENTRY):
        entry = stream.encode_entry(account, events[first : first + PER_ENTRY], now)
        pipe.xadd(stream.STREAM_KEY, entry)  # type: ignore[arg-type]
    pipe.execute()
    started = time.perf_counter()
    result = drain.run(r, "bench", seconds=3600)
    seconds = time.perf_counter() - started
    assert result.caught_up, result.summary()
    assert result.stored.inserted == len(events), result.summary()
    return seconds


def run(n: int, repeats: int) -> list[tuple[str, float]]:
    """Median seconds of the baseline and the drain over the repeats."""
    from domain.shared.settings import get_settings

    batch = get_settings().analytics_drain_batch_events
    account, funnel = _tenant()
    events = _events(funnel, n, visitors=max(1, n // 10))
    times: dict[str, list[float]] = {"baseline": [], "drain": []}
    for repeat in range(repeats):
        for name in ("baseline", "drain"):
            _empty()
            if name == "baseline":
                seconds = baseline(account, events, batch)
            else:
                seconds = drained(account, events)
            times[name].append(seconds)
            log(f"repeat {repeat + 1}: {name} {seconds:.2f} s")
    return [(name, statistics.median(values)) for name, values in times.items()]


def main() -> None:
    """Start the servers, run, print the table, stop what was started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, medians shown")
    args = parser.parse_args()
    servers = BenchServers(prefix="funnels_bench_drain")
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
        medians = run(args.events, args.repeats)
    finally:
        from domain.shared.db import dispose_engine

        dispose_engine()
        servers.stop()
    base = dict(medians)["baseline"]
    title = f"run ({args.events:,} events, median of {args.repeats})"
    print(f"| {title} | seconds | events/s | x baseline |")
    print("|---|---|---|---|")
    for name, seconds in medians:
        what = {
            "baseline": "baseline: COPY -> temp -> INSERT ON CONFLICT",
            "drain": "drain: stream -> analytics_events (ack after commit)",
        }[name]
        print(f"| {what} | {seconds:.2f} | {args.events / seconds:,.0f} | {base / seconds:.2f} |")


if __name__ == "__main__":
    main()
