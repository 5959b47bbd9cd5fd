"""The embedded servers behind `./dev up` and the test harness keep data and really stop."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from devtools.embedded import EmbeddedPostgres, RedisServer, pid_alive


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh directory with a short path (unix sockets are limited to ~107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="fx", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_postgres_keeps_rows_across_stop_and_start(short_dir: Path) -> None:
    pg = EmbeddedPostgres(short_dir / "pg")
    try:
        assert pg.start().startswith("postgresql+psycopg://postgres@/postgres?host=")
        pg.create_database("keep")
        with psycopg.connect(pg.conninfo("keep"), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (v text)")
            conn.execute("INSERT INTO t VALUES ('a'), ('b')")
        first_pid = pg.pid
        assert first_pid is not None
        pg.stop()
        assert not pid_alive(first_pid)

        pg.start()
        assert pg.pid != first_pid
        with psycopg.connect(pg.conninfo("keep")) as conn:
            rows = conn.execute("SELECT v FROM t ORDER BY v").fetchall()
        assert rows == [("a",), ("b",)]
    finally:
        pg.stop()


def test_postgres_stop_ends_the_server_and_is_idempotent(short_dir: Path) -> None:
    pg = EmbeddedPostgres(short_dir / "pg")
    pg.start()
    pid = pg.pid
    assert pid is not None
    assert pid_alive(pid)
    pg.stop()
    assert not pid_alive(pid)
    pg.stop()  # second stop: nothing to do, no error


def test_postgres_with_a_data_dir_too_long_for_a_socket(short_dir: Path) -> None:
    deep = short_dir / ("d" * 60) / ("e" * 60) / "postgres"
    pg = EmbeddedPostgres(deep)
    try:
        pg.start()
        assert pg.socket_dir is not None
        assert pg.socket_dir != deep
        with psycopg.connect(pg.conninfo("postgres")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pg.stop()


def test_redis_keeps_data_across_restart(short_dir: Path) -> None:
    server = RedisServer(short_dir / "redis")
    try:
        url = server.start()
        assert url == f"redis://127.0.0.1:{server.port}/0"
        redis.Redis.from_url(url).set("k", "v")
        first_pid = server.pid
        assert server.restart() == url
        assert server.pid != first_pid
        assert redis.Redis.from_url(url).get("k") == b"v"
    finally:
        server.stop()


def test_redis_kill_then_restart_keeps_acknowledged_writes(short_dir: Path) -> None:
    server = RedisServer(short_dir / "redis", appendfsync="always")
    try:
        client = redis.Redis.from_url(server.start())
        client.xadd("events", {"n": "1"})
        killed_pid = server.pid
        assert killed_pid is not None
        server.kill()
        assert not pid_alive(killed_pid)
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(server.url, socket_timeout=1).ping()

        server.restart()
        assert server.pid != killed_pid
        assert redis.Redis.from_url(server.url).xlen("events") == 1
    finally:
        server.stop()


def test_redis_stop_ends_the_process_and_frees_the_port(short_dir: Path) -> None:
    server = RedisServer(short_dir / "redis")
    server.start()
    pid = server.pid
    assert pid is not None
    assert pid_alive(pid)
    server.stop()
    assert server.pid is None
    assert not pid_alive(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
    server.stop()  # second stop: nothing to do, no error
