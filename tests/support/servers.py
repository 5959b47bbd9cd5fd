"""The test servers: embedded PostgreSQL and Redis by default, the environment's when named.

With DATABASE_URL set, the suite creates a database of its own on that server and drops
it at the end, never touching another. With REDIS_URL set, it uses that Redis.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from devtools.embedded import EmbeddedPostgres, RedisServer


def _psycopg_conninfo(sqlalchemy_url: str, database: str) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


@dataclass
class TestServers:
    """What the suite started, so it can stop exactly that."""

    database_url: str = ""
    redis_url: str = ""
    _postgres: EmbeddedPostgres | None = None
    _redis: RedisServer | None = None
    _admin_url: str | None = None
    _database: str = ""
    _dirs: list[str] = field(default_factory=list)

    def start(self) -> None:
        """Start (or adopt) PostgreSQL and Redis and create the test database."""
        self._database = f"funnels_test_{secrets.token_hex(4)}"
        external_db = os.environ.get("DATABASE_URL")
        if external_db:
            self._admin_url = external_db
        else:
            # A short path: the PostgreSQL socket path must stay under ~107 bytes.
            data = tempfile.mkdtemp(prefix="fpg", dir="/tmp")
            self._dirs.append(data)
            self._postgres = EmbeddedPostgres(Path(data) / "pg")
            self._admin_url = self._postgres.start()
        self._admin(f'CREATE DATABASE "{self._database}"')
        url = make_url(self._admin_url).set(
            drivername="postgresql+psycopg", database=self._database
        )
        self.database_url = url.render_as_string(hide_password=False)

        external_redis = os.environ.get("REDIS_URL")
        if external_redis:
            self.redis_url = external_redis
        else:
            data = tempfile.mkdtemp(prefix="frd", dir="/tmp")
            self._dirs.append(data)
            self._redis = RedisServer(Path(data))
            self.redis_url = self._redis.start()

    def _admin(self, sql: str) -> None:
        """Run one statement on the server's maintenance database (outside a transaction)."""
        assert self._admin_url is not None
        conninfo = _psycopg_conninfo(self._admin_url, "postgres")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def stop(self) -> None:
        """Drop the test database and stop what was started."""
        if self._admin_url:
            with contextlib.suppress(psycopg.Error):
                self._admin(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
        if self._redis is not None:
            self._redis.stop()
        if self._postgres is not None:
            self._postgres.stop()
        for directory in self._dirs:
            shutil.rmtree(directory, ignore_errors=True)
