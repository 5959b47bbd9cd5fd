"""Throw-away servers for the tests and benchmarks, and Alembic on a given database.

Unset DATABASE_URL / REDIS_URL: embedded PostgreSQL and Redis in fresh temporary
directories, stopped by pid and removed by stop(). DATABASE_URL set: a database of our own
is created on that server and dropped by stop(), never touching another; REDIS_URL set:
that Redis is used.
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
from psycopg import sql
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from devtools.embedded import EmbeddedPostgres, RedisServer

ROOT = Path(__file__).resolve().parent.parent


def psycopg_conninfo(sqlalchemy_url: str, database: str | None = None) -> str:
    """A libpq URL (for psycopg.connect) of a SQLAlchemy URL's server (and database)."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def run_alembic(database_url: str, action: str = "upgrade", revision: str = "head") -> None:
    """`alembic upgrade|downgrade REVISION` on database_url, through a connection we hand over."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


@dataclass
class ScratchServers:
    """What a run started (or adopted), so that it can stop exactly that."""

    prefix: str = "funnels_scratch"
    database_url: str = ""  # SQLAlchemy URL (psycopg 3 driver) of the run's own database
    redis_url: str = ""
    postgres_embedded: bool = False
    redis_embedded: bool = False
    _postgres: EmbeddedPostgres | None = None
    _redis: RedisServer | None = None
    _admin_url: str | None = None
    _database: str = ""
    _dirs: list[str] = field(default_factory=list)

    def temp_dir(self, prefix: str) -> str:
        """A fresh directory under /tmp that stop() removes (short: socket paths are limited)."""
        path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self._dirs.append(path)
        return path

    def start(self) -> None:
        """Start (or adopt) PostgreSQL and Redis and create the run's database."""
        self._database = f"{self.prefix}_{secrets.token_hex(4)}"
        external_db = os.environ.get("DATABASE_URL")
        if external_db:
            self._admin_url = external_db
        else:
            self._postgres = EmbeddedPostgres(Path(self.temp_dir("fpg")) / "pg")
            self._admin_url = self._postgres.start()
            self.postgres_embedded = True
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self._database)))
        url = make_url(self._admin_url).set(
            drivername="postgresql+psycopg", database=self._database
        )
        self.database_url = url.render_as_string(hide_password=False)

        external_redis = os.environ.get("REDIS_URL")
        if external_redis:
            self.redis_url = external_redis
        else:
            self._redis = RedisServer(Path(self.temp_dir("frd")))
            self.redis_url = self._redis.start()
            self.redis_embedded = True

    def _admin(self, statement: sql.Composed) -> None:
        """Run one statement on the server's maintenance database (outside a transaction)."""
        assert self._admin_url is not None
        conninfo = psycopg_conninfo(self._admin_url, "postgres")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        """Drop the run's database, stop what was started, remove the temp dirs."""
        if self._admin_url and self._database:
            with contextlib.suppress(psycopg.Error):
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                self._admin(drop.format(sql.Identifier(self._database)))
        try:
            if self._redis is not None:
                self._redis.stop()
                self._redis = None
        finally:
            if self._postgres is not None:
                self._postgres.stop()
                self._postgres = None
            for directory in self._dirs:
                shutil.rmtree(directory, ignore_errors=True)
            self._dirs.clear()
