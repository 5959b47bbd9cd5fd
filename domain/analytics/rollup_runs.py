"""One incremental rollup run, in pure form: which groups to recompute, from which events, and
how the recomputed groups replace the stored ones (the database layer will do the same in SQL).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import pandas as pd  # type: ignore[import-untyped]

from domain.analytics.rollup import group_keys, prepare
from domain.analytics.rollup_rows import GroupKey, StepDayRow

_SESSION = ["funnel_id", "session_id"]


def _sessions(frame: pd.DataFrame) -> pd.MultiIndex:
    """The (funnel, session) pairs of a frame."""
    return pd.MultiIndex.from_frame(frame[_SESSION])


def touched_groups(new: pd.DataFrame, stored: pd.DataFrame, zone: str) -> set[GroupKey]:
    """Groups whose figures the new events can change.

    The new events' own groups, and every group of their sessions' events: a late view can
    move a session's entry or exit to another step or day, so the old one loses it.
    """
    new_frame = prepare(new, zone)
    stored_frame = prepare(stored, zone)
    same_session = _sessions(stored_frame).isin(_sessions(new_frame))
    return group_keys(new_frame) | group_keys(stored_frame.loc[same_session])


def events_needed(stored: pd.DataFrame, touched: Collection[GroupKey], zone: str) -> pd.DataFrame:
    """Every stored event of the touched groups, and every event of the sessions seen in them."""
    frame = prepare(stored, zone)
    keys = pd.MultiIndex.from_arrays(
        [frame["funnel_id"], frame["step_id"], frame["day"].dt.date]
    )
    in_groups = keys.isin(list(touched))
    sessions = _sessions(frame)
    needed = in_groups | sessions.isin(sessions[in_groups])
    return frame.loc[needed].drop(columns=["day", "kind"])


def replace_groups(
    stored: Iterable[StepDayRow],
    recomputed: Iterable[StepDayRow],
    touched: Collection[GroupKey],
) -> list[StepDayRow]:
    """Stored rows with every touched group swapped for its recomputation.

    Replacing whole groups, never adding deltas, makes a run idempotent and safe to repeat:
    a group recomputed twice from the same raw events gives the same rows.
    """
    touched_set = set(touched)
    kept = [row for row in stored if row.group not in touched_set]
    return kept + [row for row in recomputed if row.group in touched_set]
