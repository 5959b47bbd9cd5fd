"""IANA time zones: which names are accepted, and the zone of a name."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_TIMEZONE = "UTC"

# Entries of a tz database directory that are not zones a person would pick.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    """Every IANA zone name this process can load (the OS database and the tzdata package)."""
    return frozenset(available_timezones() - _NOT_ZONES)


def is_known_timezone(name: str) -> bool:
    """True for an IANA zone name such as `Europe/Berlin` or `UTC` (exact spelling)."""
    return name in known_timezones()


def zone(name: str) -> ZoneInfo:
    """The zone of a known name (ZoneInfo caches them)."""
    return ZoneInfo(name)


def day_start(day: date, name: str) -> datetime:
    """The first instant (UTC) of a calendar day in the zone; a midnight lost to DST starts
    the day at the jump."""
    # fold=0 in a gap takes the offset before it, which lands on the instant of the jump.
    return datetime.combine(day, time(), tzinfo=zone(name)).astimezone(UTC)


def today(name: str, now: datetime) -> date:
    """The calendar day of now in the zone."""
    return now.astimezone(zone(name)).date()
