"""Durations written in settings: `30s`, `5m`, `2h`, `1d`, and lists of them (`1m,5m,1h`)."""

from __future__ import annotations

import re

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_schedule(text: str) -> tuple[float, ...]:
    """Seconds of each wait in a schedule such as '30s,5m,1h' (ValueError if malformed)."""
    waits = []
    for part in text.split(","):
        match = _DURATION.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"{part.strip()!r} is not a duration like 30s, 5m, 2h or 1d")
        waits.append(float(match.group(1)) * _UNITS[match.group(2)])
    return tuple(waits)
