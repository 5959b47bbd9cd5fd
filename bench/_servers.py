"""Servers for a benchmark run: embedded PostgreSQL and Redis in a temp dir, or the env's.

Unset DATABASE_URL / REDIS_URL: embedded servers (devtools.embedded) in fresh temporary
directories, stopped by pid and removed at the end. DATABASE_URL set: a database of our own
is created on that server and dropped at the end; REDIS_URL set: that Redis is used.
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


def psycopg_conninfo(sqlalchemy_url: str) -> str:
    """A libpq URL (for psycopg.connect) of the same database as a SQLAlchemy URL."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def migrate(database_url: str) -> None:
    """`alembic upgrade head` on database_url, through a connection we hand to env.py."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


@dataclass
class BenchServers:
    """What a run started (or adopted), so that it can stop exactly that."""

    database_url: str = ""  # SQLAlchemy URL (psycopg 3 driver) of the bench database
    redis_url: str = ""
    work_dir: str = ""  # a temp dir of the run's own (logs, assets); removed by stop()
    postgres_embedded: bool = False
    redis_embedded: bool = False
    _postgres: EmbeddedPostgres | None = None
    _redis: RedisServer | None = None
    _admin_url: str | None = None
    _database: str = ""
    _dirs: list[str] = field(default_factory=list)

    @property
    def conninfo(self) -> str:
        """libpq URL of the bench database."""
        return psycopg_conninfo(self.database_url)

    def start(self) -> None:
        """Start (or adopt) PostgreSQL and Redis, create the bench database and migrate it."""
        self.work_dir = tempfile.mkdtemp(prefix="fbench", dir="/tmp")
        self._dirs.append(self.work_dir)
        self._database = f"funnels_bench_{secrets.token_hex(4)}"
        external_db = os.environ.get("DATABASE_URL")
        if external_db:
            self._admin_url = external_db
        else:
            # A short path: the PostgreSQL socket path must stay under ~107 bytes.
            data = tempfile.mkdtemp(prefix="fpg", dir="/tmp")
            self._dirs.append(data)
            self._postgres = EmbeddedPostgres(Path(data) / "pg")
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
            data = tempfile.mkdtemp(prefix="frd", dir="/tmp")
            self._dirs.append(data)
            self._redis = RedisServer(Path(data))
            self.redis_url = self._redis.start()
            self.redis_embedded = True
        migrate(self.database_url)

    def _admin(self, statement: sql.Composed) -> None:
        """Run one statement on the server's maintenance database (outside a transaction)."""
        assert self._admin_url is not None
        url = make_url(self._admin_url).set(drivername="postgresql", database="postgres")
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        """Drop the bench database, stop what was started, remove the temp dirs."""
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
