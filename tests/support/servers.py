"""The test servers: embedded PostgreSQL and Redis by default, the environment's when named.

With DATABASE_URL set, the suite creates a database of its own on that server and drops
it at the end, never touching another. With REDIS_URL set, it uses that Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from devtools.scratch import ScratchServers


@dataclass
class TestServers(ScratchServers):
    """What the suite started, so it can stop exactly that."""

    __test__ = False  # not a test class, whatever its name says
    prefix: str = "funnels_test"
