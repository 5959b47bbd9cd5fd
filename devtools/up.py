"""`./dev up`: embedded servers (unless configured), migrations, then API, worker, beat, Flower.

Every process is started and stopped here by pid; Ctrl-C stops all of them in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from devtools.embedded import EmbeddedPostgres, RedisServer, free_port, port_is_free
from domain.jobs.queues import QUEUES

REPO_ROOT = Path(__file__).resolve().parent.parent
CELERY_APP = "workers.celery_app:celery_app"
DEFAULT_REDIS_PORT = 6390
READY_TIMEOUT = 120.0
STOP_GRACE = 10.0

# Reentrant: the signal handler prints from the main thread, which may hold it already.
_print_lock = threading.RLock()


class Stopped(Exception):
    """Raised at a safe point once SIGINT/SIGTERM/SIGHUP asked us to stop."""


class Failed(Exception):
    """Something we depend on failed; the message says what."""


def say(name: str, line: str) -> None:
    """Print one line prefixed with the name of the process it is about."""
    with _print_lock:
        print(f"{name:<8}| {line}", flush=True)


def venv_bin(name: str) -> str:
    """A console script from the venv we run in (sys.executable's bin directory)."""
    return str(Path(sys.executable).parent / name)


def data_dir() -> Path:
    """Where embedded servers keep data: $DATA_DIR, else <repo>/.data."""
    return Path(os.environ.get("DATA_DIR") or REPO_ROOT / ".data").resolve()


def redact(url: str) -> str:
    """The URL with any password masked, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = field(default=None, repr=False)


def child_commands(data: Path) -> list[Child]:
    """The long-running processes of the system."""
    celery = [venv_bin("celery"), "-A", CELERY_APP]
    api_port = os.environ.get("API_PORT", "8000")
    flower_port = os.environ.get("FLOWER_PORT", "5555")
    return [
        Child("api", [venv_bin("uvicorn"), "api.main:app", "--host", "127.0.0.1",
                      "--port", api_port]),
        Child("worker", [*celery, "worker", "-Q", ",".join(QUEUES), "--loglevel", "INFO",
                         "--concurrency", "2", "-n", "worker@%h"]),
        Child("beat", [*celery, "beat", "--loglevel", "INFO",
                       "--schedule", str(data / "celerybeat-schedule")]),
        Child("flower", [*celery, "flower", "--address=127.0.0.1", f"--port={flower_port}"]),
    ]  # fmt: skip


def readiness_checks() -> list[tuple[str, str, Callable[[int], bool]]]:
    """(name, URL, accepts-status) probes that must pass before we call the system up."""
    api = f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}"
    flower = f"http://127.0.0.1:{os.environ.get('FLOWER_PORT', '5555')}"
    return [
        ("api", f"{api}/health", lambda status: status == 200),
        # Flower may sit behind basic auth; any HTTP answer means it is serving.
        ("flower", f"{flower}/healthcheck", lambda status: status < 500),
    ]


def http_status(url: str) -> int | None:
    """HTTP status of GET url, or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (our own http URL)
            status: int = resp.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None


class Supervisor:
    """Owns everything `./dev up` starts, and stops it all on the way out."""

    def __init__(self) -> None:
        """Nothing is running yet."""
        self.data = data_dir()
        self.env: dict[str, str] = dict(os.environ)
        self.children: list[Child] = []
        self.postgres: EmbeddedPostgres | None = None
        self.redis: RedisServer | None = None
        self.stop_requested = threading.Event()
        self.hurry = threading.Event()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: stop in order. Another one while stopping: kill what is left."""
        del frame
        if self.stop_requested.is_set():
            self.hurry.set()
        else:
            say("dev", f"{signal.Signals(signum).name}: stopping...")
        self.stop_requested.set()

    def checkpoint(self) -> None:
        """Raise Stopped if a stop was asked for."""
        if self.stop_requested.is_set():
            raise Stopped

    def run(self) -> int:
        """Start everything, watch it, and return the exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self.on_signal)
        code = 0
        try:
            self.start_servers()
            self.checkpoint()
            self.migrate()
            for child in child_commands(self.data):
                self.checkpoint()
                self.spawn(child)
            self.wait_ready()
            self.print_banner()
            self.watch()
        except Stopped:
            pass
        except Failed as err:
            say("dev", f"ERROR: {err}")
            code = 1
        finally:
            self.shutdown()
        return code

    def start_servers(self) -> None:
        """Start embedded PostgreSQL/Redis for whichever of the URLs is not configured."""
        self.data.mkdir(parents=True, exist_ok=True)
        if not self.env.get("DATABASE_URL"):
            say("postgres", f"starting embedded PostgreSQL in {self.data / 'postgres'}")
            self.postgres = EmbeddedPostgres(self.data / "postgres")
            try:
                self.postgres.start()
                self.env["DATABASE_URL"] = self.postgres.create_database("funnels")
            except Exception as err:
                raise Failed(f"embedded PostgreSQL did not start: {err}") from err
        if not self.env.get("REDIS_URL"):
            port = DEFAULT_REDIS_PORT if port_is_free(DEFAULT_REDIS_PORT) else free_port()
            say("redis", f"starting embedded Redis on port {port} in {self.data / 'redis'}")
            self.redis = RedisServer(self.data / "redis", port)
            try:
                self.env["REDIS_URL"] = self.redis.start()
            except Exception as err:
                raise Failed(f"embedded Redis did not start: {err}") from err
        self.env.setdefault("ENVIRONMENT", "development")
        self.env["PYTHONUNBUFFERED"] = "1"  # so child output reaches us line by line

    def migrate(self) -> None:
        """Run `alembic upgrade head` to completion."""
        child = Child("migrate", [venv_bin("alembic"), "upgrade", "head"])
        proc = self.spawn(child)
        while proc.poll() is None:
            if self.stop_requested.wait(0.1):
                self.stop_children([child])
                raise Stopped
        self.finish_pump(child)
        if proc.returncode != 0:
            raise Failed(f"alembic upgrade head failed (exit {proc.returncode})")

    def spawn(self, child: Child) -> subprocess.Popen[bytes]:
        """Start a child in its own session, with its output prefixed by its name."""
        # Own session: a terminal Ctrl-C reaches only us, so shutdown happens in our order.
        try:
            proc = subprocess.Popen(
                child.argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError as err:
            raise Failed(f"{child.argv[0]} not found; is the project installed (./dev)?") from err
        child.proc = proc
        if child.name != "migrate":
            self.children.append(child)
        if proc.stdout is not None:  # always, with stdout=PIPE; this narrows the type
            child.pump = threading.Thread(target=pump, args=(child.name, proc.stdout), daemon=True)
            child.pump.start()
        return proc

    def finish_pump(self, child: Child) -> None:
        """Let a finished child's last output lines be printed."""
        if child.pump is not None:
            child.pump.join(timeout=2)

    def dead_child(self) -> Child | None:
        """A supervised child that has exited, if any."""
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                return child
        return None

    def fail_if_child_died(self) -> None:
        """Raise Failed naming a child that exited on its own."""
        child = self.dead_child()
        if child is not None and child.proc is not None:
            self.finish_pump(child)
            raise Failed(f"{child.name} exited unexpectedly (exit {child.proc.returncode})")

    def wait_ready(self) -> None:
        """Wait until every readiness probe passes."""
        pending = readiness_checks()
        deadline = time.monotonic() + READY_TIMEOUT
        while pending:
            self.checkpoint()
            self.fail_if_child_died()
            pending = [(n, url, ok) for n, url, ok in pending if not _passes(url, ok)]
            if pending and time.monotonic() > deadline:
                names = ", ".join(f"{n} ({url})" for n, url, _ in pending)
                raise Failed(f"not ready after {READY_TIMEOUT:.0f}s: {names}")
            if pending:
                self.stop_requested.wait(0.5)

    def print_banner(self) -> None:
        """Tell the user where everything is."""
        api = f"http://127.0.0.1:{self.env.get('API_PORT', '8000')}"
        flower = f"http://127.0.0.1:{self.env.get('FLOWER_PORT', '5555')}"
        db_kind = "embedded" if self.postgres else "external, from DATABASE_URL"
        redis_kind = "embedded" if self.redis else "external, from REDIS_URL"
        lines = [
            "",
            "=" * 72,
            "  Funnels is up",
            f"    API       {api}",
            f"    Docs      {api}/docs",
            f"    ReDoc     {api}/redoc",
            f"    Flower    {flower}",
            f"    Database  {redact(self.env['DATABASE_URL'])}  ({db_kind})",
            f"    Redis     {redact(self.env['REDIS_URL'])}  ({redis_kind})",
            f"    Data dir  {self.data}",
            "  Ctrl-C to stop.",
            "=" * 72,
            "",
        ]
        with _print_lock:
            print("\n".join(lines), flush=True)

    def watch(self) -> None:
        """Block until a stop is asked for (return) or a child dies (Failed)."""
        while not self.stop_requested.wait(0.5):
            self.fail_if_child_died()

    def stop_children(self, children: list[Child]) -> None:
        """SIGTERM the children, wait up to STOP_GRACE, then SIGKILL their process groups."""
        running = [(c, c.proc) for c in children if c.proc is not None and c.proc.poll() is None]
        for child, proc in running:
            say("dev", f"stopping {child.name} (pid {proc.pid})")
            proc.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for child, proc in running:
            while proc.poll() is None:
                if self.hurry.is_set() or time.monotonic() > deadline:
                    say("dev", f"killing {child.name} (pid {proc.pid})")
                    _kill_group(proc.pid)
                    proc.wait()
                    break
                time.sleep(0.05)
            self.finish_pump(child)

    def shutdown(self) -> None:
        """Stop the children, then the embedded servers; safe after a partial start."""
        self.stop_requested.set()
        self.stop_children(list(reversed(self.children)))
        if self.redis is not None:
            say("redis", "stopping embedded Redis")
            self.redis.stop()
        if self.postgres is not None:
            say("postgres", "stopping embedded PostgreSQL")
            self.postgres.stop()
        say("dev", "stopped")


def _passes(url: str, ok: Callable[[int], bool]) -> bool:
    """Whether GET url answers with a status `ok` accepts."""
    status = http_status(url)
    return status is not None and ok(status)


def _kill_group(pgid: int) -> None:
    """SIGKILL a process group we created (the child is its leader), e.g. Celery's pool."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def pump(name: str, stream: IO[bytes]) -> None:
    """Copy a child's output to ours, one prefixed line at a time."""
    for raw in iter(stream.readline, b""):
        say(name, raw.decode(errors="replace").rstrip("\n"))
    stream.close()


def main() -> int:
    """Entry point of `python -m devtools up`."""
    return Supervisor().run()
