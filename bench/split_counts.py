"""Benchmark: a split test's exposures and conversions counted by SQL over raw events.

Run with `.venv/bin/python -m bench.split_counts` (about a minute; `--visitors N` to change
the size). It starts, and stops by pid, embedded PostgreSQL (or uses DATABASE_URL),
migrates a database of its own and COPYs synthetic events of one account: each visitor is
exposed once or twice to one of two variants, and has page views across the funnel (and a
goal event for 10%). Other accounts' events fill the table as much again. It then times
`split_repository.variant_counts` (first exposures, goal after them, per variant) against
a baseline in the same run, a plain count of the test's exposure rows, and prints the plan.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._servers import BenchServers

COLUMNS = (
    "occurred_at, account_id, event_id, type, funnel_id, step_id, visitor_id, "
    "visitor_ordinal, session_id, ab_test_id, variant_id"
)


def _events(account: uuid.UUID, test: Any, variants: list[uuid.UUID], visitors: int) -> str:
    """Tab-separated rows for COPY: exposures, views and goals of the account's visitors."""
    rng = random.Random(20261201)
    start: datetime = test.started_at
    out = io.StringIO()
    n = 0

    def row(at: datetime, kind: str, step: uuid.UUID, v: int, tid: str, vid: str) -> None:
        nonlocal n
        n += 1
        out.write(
            f"{at.isoformat()}\t{account}\te{n}\t{kind}\t{test.funnel_id}\t{step}\t"
            f"v{v}\t{v}\ts{v}\t{tid}\t{vid}\n"
        )

    other_step = uuid.uuid4()
    for v in range(visitors):
        at = start + timedelta(seconds=rng.uniform(0, 14 * 86_400))
        variant = str(variants[v % 2])
        for k in range(1 + (v % 3 == 0)):  # a third come back and are exposed again
            row(at + timedelta(hours=k), "exposure", test.step_id, v, str(test.id), variant)
        for k in range(3):
            row(at + timedelta(minutes=k), "page_view", other_step, v, "\\N", "\\N")
        if rng.random() < 0.10 + 0.02 * (v % 2):
            row(at + timedelta(minutes=5), "optin", test.step_id, v, "\\N", "\\N")
    return out.getvalue()


def _fill(conninfo: str, data: str, copies: int) -> None:
    """COPY the account's events, then as many rows of other accounts (the table's bulk)."""
    import psycopg

    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for i in range(copies):
            text = data
            if i:
                text = data.replace(data.split("\t", 2)[1], str(uuid.uuid4()))
            with cur.copy(f"COPY analytics_events ({COLUMNS}) FROM STDIN") as copy:
                copy.write(text)
        cur.execute("ANALYZE analytics_events")


def _median(call: Any, runs: int = 5) -> float:
    """Median seconds of call() over runs."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def run(visitors: int) -> list[str]:
    """Fill, time the counts and the baseline, and return the table's lines."""
    from sqlalchemy import text

    from domain.analytics import split_repository as repo
    from domain.analytics.split_models import AbTest
    from domain.shared.db import unit_of_work

    account = uuid.uuid4()
    variants = [uuid.uuid4(), uuid.uuid4()]
    started = datetime(2026, 11, 1, tzinfo=UTC)
    test = AbTest(
        id=uuid.uuid4(),
        account_id=account,
        funnel_id=uuid.uuid4(),
        step_id=uuid.uuid4(),
        goal_step_id=None,
        goal_event_types=["optin", "conversion"],
        goal_name=None,
        started_at=started,
    )
    test.goal_step_id = test.step_id
    data = _events(account, test, variants, visitors)
    began = time.perf_counter()
    _fill(os.environ["PGCONNINFO"], data, copies=2)
    rows = data.count("\n") * 2
    fill = time.perf_counter() - began
    until = datetime(2026, 12, 1, tzinfo=UTC)

    def counts() -> dict[uuid.UUID, tuple[int, int]]:
        with unit_of_work() as session:
            return repo.variant_counts(
                session, test=test, variant_ids=variants, since=started, until=until
            )

    def baseline() -> int:
        with unit_of_work() as session:
            return int(
                session.scalar(
                    text(
                        "SELECT count(*) FROM analytics_events WHERE account_id = :a"
                        " AND ab_test_id = :t AND type = 'exposure'"
                    ),
                    {"a": account, "t": test.id},
                )
                or 0
            )

    found = counts()
    assert sum(e for e, _ in found.values()) == visitors, found
    base, full = _median(baseline), _median(counts)
    with unit_of_work() as session:
        plan = session.execute(
            text(f"EXPLAIN {repo._COUNTS.text}"),
            {
                "account_id": account,
                "test_id": test.id,
                "funnel_id": test.funnel_id,
                "variant_ids": variants,
                "since": started,
                "until": until,
                "goal_types": test.goal_event_types,
                "goal_step_id": test.goal_step_id,
                "goal_name": None,
            },
        ).scalars()
        scans = [line.strip() for line in plan if "Scan" in line]
    return [
        f"events in the table: {rows:,} (COPY in {fill:.1f} s); exposed visitors: {visitors:,}",
        "",
        "| query | seconds (median of 5) | x baseline |",
        "|---|---|---|",
        f"| baseline: count(*) of the test's exposure rows | {base:.3f} | 1.00 |",
        f"| variant_counts: first exposures, goals after them | {full:.3f} | {full / base:.2f} |",
        "",
        "counts: " + ", ".join(f"{e:,} exposed / {c:,} converted" for e, c in found.values()),
        "scans in the plan: " + "; ".join(scans),
    ]


def main() -> None:
    """Start the servers, run, print the table, stop what was started."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--visitors", type=int, default=100_000, help="exposed visitors")
    args = parser.parse_args()
    servers = BenchServers(prefix="funnels_bench_splits")
    servers.start()
    try:
        os.environ.update(
            {
                "DATABASE_URL": servers.database_url,
                "REDIS_URL": servers.redis_url,
                "PGCONNINFO": servers.conninfo,
                "ENVIRONMENT": "test",
                "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            }
        )
        lines = run(args.visitors)
    finally:
        from domain.shared.db import dispose_engine

        dispose_engine()
        servers.stop()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
