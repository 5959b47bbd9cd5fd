"""Optimistic locking: a write names the edit version it was based on."""

from __future__ import annotations

from domain.shared.errors import Conflict


def check_version(current: int, *expected: int | None, what: str) -> None:
    """Refuse a write based on a stale edit version (409 version_conflict, nothing changes).

    Each of expected (body `version`, `If-Match`) that was given must be the current one.
    """
    for version in expected:
        if version is not None and version != current:
            raise Conflict(
                f"The {what} changed since version {version}; it is at version {current}",
                code="version_conflict",
                details=[{"expected_version": version, "current_version": current}],
            )
