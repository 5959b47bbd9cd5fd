"""The rollup job and the overview on PostgreSQL, each beside its baseline in the same run.

Run with `.venv/bin python -m bench.rollup_db [--events N] [--overview-events N]` (defaults
1,000,000 each). It starts, and stops by pid, embedded PostgreSQL and Redis (or uses
DATABASE_URL / REDIS_URL). Rows:

- baseline: the plain SQL GROUP BY (funnel, step, local day) count over the account's rows;
- the job's first roll of the same rows (COPY out, pure rollup, COPY in the stats rows),
  and a whole job run (the new-event scan of its watermark included);
- incremental runs: 10,000 new events of the last day over a history of N/10 and N events
  (a run re-done three times by moving the watermark back: runs are idempotent);
- the overview (#44, the service call the route makes) of one funnel with N events over 90
  days, exact range uniques included: p50 and p99 of 200 calls.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import uuid
from collections.abc import Callable

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from bench._servers import BenchServers
from bench.rollup import ZONE, events

BATCH = 5_000_000


def median_seconds(run: Callable[[], object], times: int = 3) -> float:
    """The median wall time of a few runs."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _uuids(prefix: str, names: pd.Series) -> pd.Series:
    """Stable uuids for synthetic names."""
    mapping = {
        name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}/{name}")) for name in names.unique()
    }
    return names.map(mapping)


def load(account_id: uuid.UUID, frame: pd.DataFrame) -> None:
    """COPY synthetic events into analytics_events for the account."""
    from sqlalchemy import text

    from domain.shared.db import unit_of_work

    out = pd.DataFrame(
        {
            "account_id": str(account_id),
            "event_id": frame["event_id"],
            "occurred_at": frame["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S+00"),
            "type": frame["type"],
            "funnel_id": _uuids("f", frame["funnel_id"]),
            "step_id": _uuids("s", frame["funnel_id"] + frame["step_id"]),
            "visitor_id": "v" + frame["visitor_ordinal"].astype(str),
            "visitor_ordinal": frame["visitor_ordinal"],
            "session_id": frame["session_id"],
            "amount_cents": frame["amount_cents"],
            "currency": frame["currency"],
        }
    )
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False)
    columns = ", ".join(out.columns)
    with unit_of_work() as session:
        raw = session.connection().connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY analytics_events ({columns}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            copy.write(buffer.getvalue())
        # Statistics, as autovacuum keeps them on a live table: a plan made for an empty
        # table (a nested-loop anti-join) would measure the planner, not the rollup.
        session.execute(text("ANALYZE analytics_events"))


def account(zone: str) -> uuid.UUID:
    """A fresh account in zone."""
    from domain.accounts.models import Account
    from domain.shared.db import unit_of_work

    account_id = uuid.uuid4()
    with unit_of_work() as session:
        session.add(
            Account(
                id=account_id,
                name="Bench",
                slug=f"bench-{account_id.hex[:12]}",
                publishable_key=f"pk_bench_{account_id.hex}",
                timezone=zone,
            )
        )
    return account_id


def sql_group_by(account_id: uuid.UUID) -> Callable[[], object]:
    """The baseline: a plain GROUP BY (funnel, step, local day) count."""
    from sqlalchemy import text

    from domain.shared.db import unit_of_work

    def run() -> object:
        with unit_of_work() as session:
            return session.execute(
                text(
                    "SELECT funnel_id, step_id, (occurred_at AT TIME ZONE :zone)::date, count(*)"
                    " FROM analytics_events WHERE account_id = :account GROUP BY 1, 2, 3"
                ),
                {"zone": ZONE, "account": account_id},
            ).all()

    return run


def first_roll(account_id: uuid.UUID) -> Callable[[], object]:
    """The job's roll of every event of the account (what a first run or a re-roll does)."""
    from domain.analytics import rollup_job
    from domain.shared.db import unit_of_work, utcnow

    def run() -> object:
        with unit_of_work() as session:
            return rollup_job.reroll(session, account_id, None, ZONE, utcnow())

    return run


def job_run() -> object:
    """One whole run of the job (every batch until caught up)."""
    from workers.tasks.analytics_rollup import run

    return run(batch_size=BATCH, max_batches=1000)


def rewind(position: tuple[int, int]) -> None:
    """Move the watermark back (the next run reads the same events again)."""
    from sqlalchemy import text

    from domain.shared.db import unit_of_work

    with unit_of_work() as session:
        session.execute(
            text(
                "UPDATE analytics_rollup_cursor SET last_tx_id = CAST(:tx AS text)::xid8,"
                " last_seq = :seq"
            ),
            {"tx": str(position[0]), "seq": position[1]},
        )


def cursor_position() -> tuple[int, int]:
    """The watermark now."""
    from sqlalchemy import text

    from domain.shared.db import unit_of_work

    with unit_of_work() as session:
        row = session.execute(
            text("SELECT last_tx_id::text::bigint, last_seq FROM analytics_rollup_cursor")
        ).one()
    return int(row[0]), int(row[1])


def incremental(account_id: uuid.UUID, history: int, first_id: int) -> float:
    """Median seconds of a run rolling 10,000 new last-day events into the account."""
    job_run()
    before = cursor_position()
    load(account_id, events(10_000, seed=history, first_id=first_id, last_day_only=True))

    def run() -> object:
        rewind(before)
        return job_run()

    return median_seconds(run)


def overview_latencies(count: int) -> tuple[float, float, int]:
    """p50 and p99 (ms) of 200 overview calls on one funnel of count events over 90 days."""
    from domain.analytics import reports
    from domain.funnels.models import Funnel, FunnelStep
    from domain.shared.db import unit_of_work

    account_id = account(ZONE)
    rng = np.random.default_rng(7)
    frame = events(count, seed=9)
    frame["funnel_id"] = "single"
    # 90 days: spread each event over the 90 days from 1 January.
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frame["occurred_at"] = start + pd.to_timedelta(rng.integers(0, 90 * 86_400, count), unit="s")
    load(account_id, frame)
    funnel_id = uuid.UUID(_uuids("f", pd.Series(["single"])).iloc[0])
    with unit_of_work() as session:
        session.add(
            Funnel(
                id=funnel_id, account_id=account_id, name="Bench", slug="bench", funnel_type="sales"
            )
        )
        session.flush()
        for position in range(10):
            step_id = uuid.UUID(_uuids("s", pd.Series([f"singles{position}"])).iloc[0])
            session.add(
                FunnelStep(
                    id=step_id,
                    account_id=account_id,
                    funnel_id=funnel_id,
                    position=position,
                    name=f"Step {position}",
                    slug=f"step-{position}",
                    step_type="page",
                )
            )
    job_run()
    samples = []
    for _ in range(200):
        begin = time.perf_counter()
        with unit_of_work() as session:
            out = reports.overview(
                session,
                account_id=account_id,
                funnel_id=funnel_id,
                date_from=pd.Timestamp("2026-01-01").date(),
                date_to=pd.Timestamp("2026-03-31").date(),
            )
        samples.append((time.perf_counter() - begin) * 1000)
    return (
        float(np.percentile(samples, 50)),
        float(np.percentile(samples, 99)),
        out.funnel.unique_visitors,
    )


def run(count: int, overview_count: int) -> list[str]:
    """Every measurement, as table rows."""
    big = account(ZONE)
    small = account(ZONE)
    frame = events(count, seed=1)
    load(big, frame)
    load(small, frame.iloc[: count // 10].assign(event_id=lambda f: "h" + f["event_id"]))
    job_run()  # both accounts rolled: the measured runs below start caught up
    base = median_seconds(sql_group_by(big))
    full = median_seconds(first_roll(big), times=1)  # one run: it takes long on this box
    rows = [
        f"| baseline: SQL GROUP BY (funnel, step, local day) of {count:,} events "
        f"| {base:.2f} | 1.00 | - |",
        f"| job: first roll of the same {count:,} events | {full:.2f} | {full / base:.2f} "
        "| ≤ 1.5 |",
    ]
    small_s = incremental(small, count // 10, 10_000_000)
    big_s = incremental(big, count, 20_000_000)
    rows += [
        f"| job run: 10,000 new events over {count // 10:,} | {small_s:.3f} | - | - |",
        f"| job run: 10,000 new events over {count:,} | {big_s:.3f} "
        f"| {big_s / small_s:.2f} x the run over {count // 10:,} | ≤ 1.3 |",
    ]
    p50, p99, uniques = overview_latencies(overview_count)
    rows.append(
        f"| overview of one funnel, {overview_count:,} events over 90 days "
        f"({uniques:,} exact uniques): p50 {p50:.1f} ms, p99 | {p99 / 1000:.3f} | - "
        "| p99 < 0.050 |"
    )
    return rows


def main() -> None:
    """Start the servers, run, print the table, stop what was started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--overview-events", type=int, default=1_000_000)
    args = parser.parse_args()
    servers = BenchServers(prefix="funnels_bench_rollup")
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
        rows = run(args.events, args.overview_events)
    finally:
        from domain.shared.db import dispose_engine

        dispose_engine()
        servers.stop()
    print("| what | seconds | ratio | aim |")
    print("|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
