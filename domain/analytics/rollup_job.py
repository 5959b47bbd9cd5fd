"""The rollup job: what committed since the watermark in, touched groups recomputed whole.

One batch is one transaction under one advisory lock (a second runner finds it taken and
returns "busy"): read the keys of up to batch_size events committed after the cursor, and
only from finished transactions (below pg_snapshot_xmin, as the events feed reads); per
account, recompute every (funnel, step, day) group those events can change from raw
events and replace the groups' rows; move the cursor. Rows, cursor and zone commit
together, so a crash means the batch is read again, and a group recomputed twice from the
same raw events gives the same rows (docs/analytics.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd  # type: ignore[import-untyped]
from sqlalchemy.orm import Session

from domain.accounts import service as accounts
from domain.analytics import stats_repository as repo
from domain.analytics.rollup import local_days, rollup
from domain.analytics.rollup_rows import GroupKey
from domain.funnels import service as funnels
from domain.shared.db import utcnow
from domain.shared.locks import try_xact_lock
from domain.shared.timezones import DEFAULT_TIMEZONE, day_start

ROLLUP_TASK = "analytics.rollup"
"""Rolls what committed since the watermark into funnel_step_stats (beat, every minute)."""

RunStatus = Literal["busy", "caught_up", "more"]


@dataclass(frozen=True)
class RunResult:
    """What one batch did: events read, accounts rolled, groups replaced."""

    status: RunStatus
    read: int = 0
    accounts: int = 0
    groups: int = 0


def _bounds(touched: set[GroupKey], zone: str) -> list[repo.Group]:
    """Each touched group with its day's UTC bounds."""
    return [
        (funnel, step, day, day_start(day, zone), day_start(day + dt.timedelta(days=1), zone))
        for funnel, step, day in touched
    ]


def _step_types(
    session: Session, account_id: uuid.UUID, events: pd.DataFrame
) -> Mapping[Hashable, str]:
    """Step id (text, as events carry it) -> step type, for the events' steps (a step id is
    one step's, whatever funnel an event names)."""
    step_ids = [uuid.UUID(value) for value in events["step_id"].unique()]
    types = funnels.step_types(session, account_id=account_id, step_ids=step_ids)
    return {str(step): kind for step, kind in types.items()}


def roll_new(
    session: Session, account_id: uuid.UUID, new: pd.DataFrame, zone: str, now: dt.datetime
) -> int:
    """Recompute and replace the groups the account's new events can change: their count."""
    counted = new.loc[new["rollable"]]
    if counted.empty:
        return 0
    repo.prepare_temp_tables(session)
    sessions = counted[["funnel_id", "session_id"]].drop_duplicates()
    related = repo.session_events(session, account_id, sessions, counted["event_id"].unique())
    if related.empty:
        return 0
    # Every copy's group: which copy of an event id counts can move with a new one.
    days = local_days(related["occurred_at"], zone).dt.date
    touched = set(zip(related["funnel_id"], related["step_id"], days, strict=True))
    needed = repo.group_events(session, account_id, _bounds(touched, zone))
    rows = rollup(needed, zone, _step_types(session, account_id, needed), only=touched)
    repo.delete_groups(session, account_id)
    repo.insert_rows(session, account_id, rows, zone, now)
    return len(touched)


def reroll(
    session: Session, account_id: uuid.UUID, old_zone: str | None, zone: str, now: dt.datetime
) -> int:
    """Roll every retained event of the account in zone (a first roll or a zone change).

    Days wholly before the oldest retained event keep the rows and the zone they were
    rolled in; the rest is replaced.
    """
    first = repo.first_event_at(session, account_id)
    if old_zone is None:
        repo.delete_from_day(session, account_id, None)
    elif first is not None:
        start = pd.Series([pd.Timestamp(first).tz_convert("UTC")])
        cutoff = min(local_days(start, old_zone).iloc[0], local_days(start, zone).iloc[0])
        repo.delete_from_day(session, account_id, cutoff.date())
    events = repo.account_events(session, account_id)
    rows = rollup(events, zone, _step_types(session, account_id, events)) if len(events) else []
    repo.insert_rows(session, account_id, rows, zone, now)
    repo.set_zone(session, account_id, zone, now)
    return len({row.group for row in rows})


def run_batch(session: Session, *, batch_size: int) -> RunResult:
    """One batch in the caller's transaction (the caller commits)."""
    if not try_xact_lock(session, ROLLUP_TASK):
        return RunResult("busy")
    now = utcnow()
    cursor = repo.cursor(session, now)
    new, bound = repo.read_new(session, (cursor.last_tx_id, cursor.last_seq), batch_size)
    rolled = repo.zones(session)
    in_batch = set(new["account_id"])
    current = accounts.timezones(session, sorted(set(rolled) | in_batch))
    groups, done = 0, 0
    for account_id in sorted(set(rolled) | in_batch):
        zone = current.get(account_id, rolled.get(account_id, DEFAULT_TIMEZONE))
        if rolled.get(account_id) != zone:
            groups += reroll(session, account_id, rolled.get(account_id), zone, now)
        elif account_id in in_batch:
            mine = new.loc[new["account_id"] == account_id]
            groups += roll_new(session, account_id, mine, zone, now)
        else:
            continue
        done += 1
    more = len(new) == batch_size
    last = (int(new["tx_id"].iloc[-1]), int(new["seq"].iloc[-1])) if more else (bound, 0)
    repo.advance(session, cursor, last, now, fresh=not more)
    return RunResult("more" if more else "caught_up", len(new), done, groups)
