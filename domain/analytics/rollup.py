"""The rollup's aggregation: raw events of one account in, StepDayRow rows out (pure pandas).

The caller hands in every raw event of the groups it wants (plus every event of the sessions
seen in them, for entries and exits) and replaces those groups whole with what comes back;
docs/analytics.md has the definitions and the recompute rule.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from pyroaring import BitMap

from domain.analytics.rollup_rows import COUNT_FIELDS, COUNTS_CURRENCY, GroupKey, StepDayRow

EVENT_COLUMNS = (
    "event_id",
    "visitor_ordinal",
    "session_id",
    "funnel_id",
    "step_id",
    "type",
    "occurred_at",
    "amount_cents",
    "currency",
)
# Optional: how many order bumps a purchase carried (the drain's properties.bump_count);
# absent, no purchase had one.
BUMP_COLUMN = "bump_count"
EVENT_TYPES = (
    "page_view",
    "optin",
    "checkout_started",
    "purchase",
    "upsell_accepted",
    "upsell_declined",
    "conversion",
)
_REQUIRED = ["event_id", "visitor_ordinal", "session_id", "funnel_id", "step_id", "type"]
# Events that carry money: a purchase and an accepted upsell or downsell.
MONEY_TYPES = ("purchase", "upsell_accepted")
# A step's goal by its type (SPEC "Analytics definitions"); `conversion` counts on every step.
GOAL_BY_STEP_TYPE: Mapping[str, str] = {
    "optin": "optin",
    "order_form": "purchase",
    "upsell": "upsell_accepted",
    "downsell": "upsell_accepted",
}
CUSTOM_GOAL = "conversion"
# Ordinals live in a 32-bit roaring bitmap.
MAX_VISITOR_ORDINAL = 2**32 - 1

_KIND = {name: code for code, name in enumerate(EVENT_TYPES)}
_GROUP = ["funnel_id", "step_id", "day"]
_COUNTS = list(COUNT_FIELDS)


def local_days(occurred_at: pd.Series, zone: str) -> pd.Series:
    """The account zone's calendar day of each UTC instant (DST and midnight handled by tzdata)."""
    # Wall time first, then the floor: a zone whose midnight does not exist on a DST day
    # (America/Santiago, Asia/Beirut) would make a tz-aware floor raise.
    wall = occurred_at.dt.tz_convert(ZoneInfo(zone)).dt.tz_localize(None)
    return wall.dt.floor("D")


def _check(events: pd.DataFrame) -> None:
    """Refuse events the rollup would count wrong or drop silently (ValueError)."""
    if str(getattr(events["occurred_at"].dtype, "tz", None)) != "UTC":
        raise ValueError("occurred_at must be tz-aware UTC")
    # groupby drops null keys: an event without an id, session, funnel or step would vanish.
    nulls = [column for column in _REQUIRED if events[column].isna().any()]
    if nulls:
        raise ValueError(f"events have nulls in: {', '.join(nulls)}")
    unknown = set(events["type"].unique()) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(sorted(map(str, unknown)))}")
    ordinals = events["visitor_ordinal"]
    if ordinals.min() < 0 or ordinals.max() > MAX_VISITOR_ORDINAL:
        raise ValueError("visitor_ordinal must fit in 0..2**32-1")
    if events.loc[events["type"].isin(MONEY_TYPES), "currency"].isna().any():
        raise ValueError("a purchase or accepted upsell needs a currency")


def prepare(events: pd.DataFrame, zone: str) -> pd.DataFrame:
    """Checked events, each event_id once (the first kept), with their local `day`."""
    missing = [column for column in EVENT_COLUMNS if column not in events.columns]
    if missing:
        raise ValueError(f"events lack columns: {', '.join(missing)}")
    if events.empty:
        return events.assign(day=pd.Series(dtype="datetime64[ns]"), kind=pd.Series(dtype="int8"))
    _check(events)
    # A fresh index: _session_edges flags events by index label, and concatenated input
    # repeats labels.
    frame = events.drop_duplicates(subset="event_id", keep="first").reset_index(drop=True)
    # The type as a small integer: one factorization instead of a string compare per count.
    kind = pd.Categorical(frame["type"], categories=EVENT_TYPES).codes
    return frame.assign(day=local_days(frame["occurred_at"], zone), kind=kind)


def group_keys(frame: pd.DataFrame) -> set[GroupKey]:
    """The (funnel, step, day) groups of prepared events."""
    days = frame["day"].dt.date
    return set(zip(frame["funnel_id"], frame["step_id"], days, strict=True))


def _edge(views: pd.DataFrame, codes: pd.Series, reduce: str) -> pd.Index:
    """Index of each session's earliest ("min") or latest ("max") view; ties by event_id."""
    at = views["occurred_at"]
    # Numeric work first: only views at their session's extreme instant are candidates,
    # so the string sort on event_id below runs over about one row per session.
    candidates = views.loc[at == at.groupby(codes).transform(reduce)]
    ordered = candidates.sort_values("event_id", ascending=reduce == "min", kind="stable")
    return ordered.index[~codes.loc[ordered.index].duplicated(keep="first")]


def _session_edges(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Flags of the first (entry) and last (exit) view of each (funnel, session)."""
    views = frame.loc[frame["kind"] == _KIND["page_view"]]
    codes = views.groupby(["funnel_id", "session_id"], sort=False).ngroup()
    # Ties on occurred_at break by event_id, so the answer never depends on input order.
    first, last = _edge(views, codes, "min"), _edge(views, codes, "max")
    return frame.index.isin(first), frame.index.isin(last)


def _flags(frame: pd.DataFrame, step_types: Mapping[Hashable, str]) -> pd.DataFrame:
    """One 0/1 column per count, per event, beside the group columns."""
    kind = frame["kind"]
    purchases = kind == _KIND["purchase"]
    bumps = frame[BUMP_COLUMN] if BUMP_COLUMN in frame.columns else pd.Series(0, frame.index)
    goals = {step: _KIND.get(GOAL_BY_STEP_TYPE.get(step_type, ""), -1)
             for step, step_type in step_types.items()}
    goal = frame["step_id"].map(goals).fillna(-1)
    entries, exits = _session_edges(frame)
    flags = pd.DataFrame(
        {
            "views": kind == _KIND["page_view"],
            "entries": entries,
            "exits": exits,
            "optins": kind == _KIND["optin"],
            "checkouts": kind == _KIND["checkout_started"],
            "purchases": purchases,
            "conversions": (kind == goal) | (kind == _KIND[CUSTOM_GOAL]),
            "upsells_accepted": kind == _KIND["upsell_accepted"],
            "upsells_declined": kind == _KIND["upsell_declined"],
            "bump_purchases": purchases & (bumps.fillna(0).to_numpy() > 0),
        },
        index=frame.index,
    ).astype(np.int64)
    return pd.concat([frame[_GROUP], flags], axis=1)


def _visitor_sets(frame: pd.DataFrame) -> dict[tuple[Hashable, Hashable, pd.Timestamp], BitMap]:
    """Per group, the bitmap of visitors who viewed the step that day."""
    views = frame.loc[frame["kind"] == _KIND["page_view"]]
    ordinals = views["visitor_ordinal"].to_numpy(dtype=np.uint32)
    grouped = views.groupby(_GROUP, sort=False).indices
    return {key: BitMap(ordinals[positions]) for key, positions in grouped.items()}


def _count_rows(frame: pd.DataFrame, step_types: Mapping[Hashable, str]) -> list[StepDayRow]:
    """The counts row (currency "") of every group with any event."""
    sums = _flags(frame, step_types).groupby(_GROUP, sort=False)[_COUNTS].sum()
    visitors = _visitor_sets(frame)
    rows = []
    for key, *counts in sums.itertuples(name=None):
        funnel_id, step_id, day = key
        values = dict(zip(_COUNTS, (int(count) for count in counts), strict=True))
        rows.append(
            StepDayRow(
                funnel_id=funnel_id,
                step_id=step_id,
                day=day.date(),
                currency=COUNTS_CURRENCY,
                visitors=visitors.get(key, BitMap()),
                **values,
            )
        )
    return rows


def _money_rows(frame: pd.DataFrame) -> list[StepDayRow]:
    """One revenue row per group and currency with any money event (even of 0 cents)."""
    money = frame.loc[frame["kind"].isin([_KIND[name] for name in MONEY_TYPES])]
    sums = money.groupby([*_GROUP, "currency"], sort=False)["amount_cents"].sum()
    return [
        StepDayRow(
            funnel_id=funnel_id,
            step_id=step_id,
            day=day.date(),
            currency=str(currency),
            revenue_cents=int(cents),
        )
        for (funnel_id, step_id, day, currency), cents in sums.items()
    ]


def rollup(
    events: pd.DataFrame,
    zone: str,
    step_types: Mapping[Hashable, str],
    only: Collection[GroupKey] | None = None,
) -> list[StepDayRow]:
    """Stats rows of the events' groups (or of `only`), sorted by funnel, step, day, currency.

    Events of one account; `zone` its IANA time zone; `step_types` maps step_id to the step's
    type (a step missing from it has only the custom goal). A group in `only` must come with
    all its raw events and every event of the sessions seen in it, or its figures are partial.
    """
    frame = prepare(events, zone)
    if frame.empty:
        return []
    rows = _count_rows(frame, step_types) + _money_rows(frame)
    if only is not None:
        wanted = set(only)
        rows = [row for row in rows if row.group in wanted]
    rows.sort(key=lambda row: (str(row.funnel_id), str(row.step_id), row.day, row.currency))
    return rows

