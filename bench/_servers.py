"""Servers for a benchmark run: devtools.scratch's, migrated, plus a work directory."""

from __future__ import annotations

from dataclasses import dataclass

from devtools.scratch import ROOT, ScratchServers, psycopg_conninfo, run_alembic

__all__ = ["ROOT", "BenchServers", "psycopg_conninfo"]


@dataclass
class BenchServers(ScratchServers):
    """PostgreSQL (migrated) and Redis for one run, and a temp dir for its logs and assets."""

    prefix: str = "funnels_bench"
    work_dir: str = ""

    @property
    def conninfo(self) -> str:
        """libpq URL of the bench database."""
        return psycopg_conninfo(self.database_url)

    def start(self) -> None:
        """Start (or adopt) the servers, create the bench database and migrate it."""
        self.work_dir = self.temp_dir("fbench")
        super().start()
        run_alembic(self.database_url)
