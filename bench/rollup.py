"""The rollup's pure aggregation against a plain pandas groupby count over the same events.

Run with `.venv/bin/python -m bench.rollup [events]` (default 1,000,000; no servers). The
job and the overview on PostgreSQL, against a SQL GROUP BY: `.venv/bin/python -m bench.rollup
--db [--events N] [--overview-events N]` (bench/rollup_db.py). Synthetic
events of one account: 50 funnels x 10 steps over 60 days (30,000 groups), 200,000 visitors,
300,000 sessions, mostly views. Medians of three runs. The baseline is the least any
aggregation does: local days from tzdata, then one groupby count per (funnel, step, day).
The incremental rows recompute the groups touched by 10,000 new events of the last day
(selecting the events they need is the database's part and not timed here).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from domain.analytics.rollup import local_days, rollup
from domain.analytics.rollup_runs import events_needed, touched_groups

ZONE = "Europe/Berlin"
FUNNELS, STEPS, DAYS = 50, 10, 60
KINDS = ["page_view", "optin", "checkout_started", "purchase", "upsell_accepted",
         "upsell_declined", "conversion"]
WEIGHTS = [0.80, 0.06, 0.04, 0.03, 0.02, 0.02, 0.03]
STEP_TYPES = {f"s{step}": kind for step, kind in
              enumerate(["optin", "order_form", "upsell", "downsell", "page"] * 2)}


def events(count: int, seed: int, first_id: int = 0, last_day_only: bool = False) -> pd.DataFrame:
    """`count` synthetic events, seeded; over the 60 days, or new sessions of the last day."""
    rng = np.random.default_rng(seed)
    sessions = rng.integers(0, 300_000, count)
    first_second = (DAYS - 1) * 86_400 if last_day_only else 0
    session_starts = np.random.default_rng(seed).integers(first_second, DAYS * 86_400, 300_000)
    starts = session_starts[sessions]
    if last_day_only:  # sessions the history has not seen, visitors it mostly has
        sessions = sessions + 300_000
    kinds = rng.choice(KINDS, count, p=WEIGHTS)
    money = np.isin(kinds, ["purchase", "upsell_accepted"])
    start = pd.Timestamp("2026-01-01", tz="UTC")
    return pd.DataFrame({
        "event_id": [f"e{n}" for n in range(first_id, first_id + count)],
        "visitor_ordinal": sessions % 200_000,
        "session_id": sessions.astype(str),
        "funnel_id": np.char.add("f", (sessions % FUNNELS).astype(str)),
        "step_id": np.char.add("s", rng.integers(0, STEPS, count).astype(str)),
        "type": kinds,
        # A session starts any time in the 60 days and lasts up to half an hour.
        "occurred_at": start + pd.to_timedelta(
            starts + rng.integers(0, 1_800, count), unit="s"
        ),
        "amount_cents": np.where(money, rng.integers(500, 20_000, count), 0),
        "currency": np.where(money, rng.choice(["EUR", "USD"], count), None),
    })


def median_seconds(run: Callable[[], object]) -> float:
    """The median wall time of three runs."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def baseline(frame: pd.DataFrame) -> object:
    """Local days, then a groupby count per (funnel, step, day)."""
    days = local_days(frame["occurred_at"], ZONE)
    return frame.assign(day=days).groupby(["funnel_id", "step_id", "day"]).size()


def incremental(history: pd.DataFrame, new: pd.DataFrame) -> Callable[[], object]:
    """A run recomputing the groups 10,000 new events touch, given the events it needs."""
    touched = touched_groups(new, history, ZONE)
    needed = events_needed(pd.concat([history, new]), touched, ZONE)
    return lambda: rollup(needed, ZONE, STEP_TYPES, only=touched)


def main() -> None:
    """Print the table: full rollup against the baseline, and incremental runs."""
    if sys.argv[1:2] == ["--db"]:
        from bench import rollup_db

        sys.argv.pop(1)
        rollup_db.main()
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    frame = events(count, seed=1)
    rows = rollup(frame, ZONE, STEP_TYPES)
    base = median_seconds(lambda: baseline(frame))
    full = median_seconds(lambda: rollup(frame, ZONE, STEP_TYPES))
    print(f"| run ({count:,} events, {len(rows):,} rows) | seconds | events/s | x baseline |")
    print("|---|---|---|---|")
    print(f"| baseline: local day + groupby count | {base:.2f} | {count / base:,.0f} | 1.00 |")
    print(f"| rollup() of every group | {full:.2f} | {count / full:,.0f} | {full / base:.2f} |")
    # What arrives between two runs: sessions of the last day (a run every minute sees
    # far fewer than 10,000; late events for older days add their own groups).
    new = events(10_000, seed=2, first_id=count, last_day_only=True)
    for size in (count // 10, count):
        run = incremental(frame.iloc[:size], new)
        seconds = median_seconds(run)
        print(f"| 10,000 new events over {size:,}: recompute touched groups | {seconds:.2f} "
              f"| - | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
