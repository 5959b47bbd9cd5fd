"""Benchmark: tracking ingestion over real HTTP, beside a bare FastAPI route in the same run.

Run with `.venv/bin/python -m bench.ingest` (about a minute; `--seconds N` per measurement,
`--connections N`). It starts, and stops by pid, embedded PostgreSQL and Redis (Redis with
`appendonly yes`, `appendfsync always`, as `./dev up` runs it; or DATABASE_URL / REDIS_URL),
migrates a database of its own, and starts two uvicorn servers of one worker each (uvloop,
httptools), as subprocesses of its own:

- the baseline `bench/_bare_track.py`: `POST /track` parses a 343-byte event into a plain
  pydantic model and answers 202; `POST /track-xadd` adds one awaited XADD per request;
- the real API (`uvicorn api.main:app`) with rate limits ON (generous budgets, so every
  request is counted in Redis and none is refused), an account and a funnel made through
  the API, and the same 343-byte event sent to `/api/v1/analytics/track` with the
  publishable key in `X-Publishable-Key`; then `/track/batch` with 500 such events.

The load generator is this process: asyncio keep-alive connections writing prebuilt HTTP/1.1
requests and reading the answers (no client library in the way), measured for `--seconds`
after a one-second warm-up. Every answer must be a 202. Progress on stderr, tables on stdout.

Sections: `SECTIONS` below lists them; the drain benchmark (issue 12's drain helper) adds
its own function returning rows (`def bench_drain(servers, args) -> Section`) to that list.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench._servers import ROOT, BenchServers
from devtools.embedded import free_port

EVENT_BYTES = 343
BATCH_SIZE = 500
SINGLE_AIM = 0.70  # of the bare route's req/s
BATCH_AIM = 50_000  # events/s on one API worker


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- load generator


@dataclass
class Load:
    """What one measurement saw."""

    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        """A latency quantile, milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *([0-9]+)")


def http_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A keep-alive HTTP/1.1 POST, as bytes."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(
    port: int, request: bytes, stop: list[float], load: Load, on: list[bool]
) -> None:
    """One keep-alive connection sending request after request until stop[0]."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        while True:
            started = time.perf_counter()
            if started >= stop[0]:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = _LENGTH.search(head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            if on[0]:
                load.requests += 1
                load.statuses[int(head[9:12])] += 1
                load.latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def _drive(port: int, request: bytes, connections: int, seconds: float) -> Load:
    """Warm up for a second, then count `seconds` of answers over `connections`."""
    load, on = Load(), [False]
    stop = [time.perf_counter() + 1.0 + seconds]
    tasks = [
        asyncio.create_task(_connection(port, request, stop, load, on)) for _ in range(connections)
    ]
    await asyncio.sleep(1.0)
    on[0], started = True, time.perf_counter()
    await asyncio.sleep(seconds)
    on[0] = False
    load.seconds = time.perf_counter() - started
    await asyncio.gather(*tasks)
    return load


def drive(port: int, request: bytes, connections: int, seconds: float) -> Load:
    """Run the load generator (uvloop if installed) and check every answer was a 202."""
    try:
        import uvloop

        load = uvloop.run(_drive(port, request, connections, seconds))
    except ImportError:
        load = asyncio.run(_drive(port, request, connections, seconds))
    if set(load.statuses) != {202}:
        raise RuntimeError(f"not every answer was a 202: {dict(load.statuses)}")
    return load


# --------------------------------------------------------------------------- servers


@dataclass
class Uvicorn:
    """A uvicorn server we started (one worker)."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def stop(self) -> None:
        """SIGTERM, SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_uvicorn(target: str, env: dict[str, str], work_dir: str, name: str) -> Uvicorn:
    """`uvicorn <target>` on a free port, output to a log file; waits for /docs to answer."""
    port = free_port()
    log_path = Path(work_dir) / f"{name}.log"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Uvicorn(proc, port, log_path)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not answer in 60 s:\n{log_path.read_text()}")
        time.sleep(0.1)


def api_env(servers: BenchServers) -> dict[str, str]:
    """The API's environment: production mode, rate limits on with budgets never spent."""
    return {
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        # Production refuses the development key; a bench run gets a Fernet key of its own.
        "INTEGRATIONS_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "DATABASE_URL": servers.database_url,
        "REDIS_URL": servers.redis_url,
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_USER": "1000000/10 seconds",
        "RATE_LIMIT_ACCOUNT": "1000000/10 seconds",
        "RATE_LIMIT_TRACKING": "100000000/10 seconds;2000000000/day",
        "RATE_LIMIT_TRACKING_CLIENT": "100000000/10 seconds;2000000000/day",
        "ASSET_DIR": str(Path(servers.work_dir) / "assets"),
    }


# --------------------------------------------------------------------------- the event


def event_body(funnel_id: str, i: int = 0) -> dict[str, object]:
    """A page_view of exactly EVENT_BYTES bytes as compact JSON."""
    body: dict[str, object] = {
        "event_id": f"bench-{uuid.uuid4().hex[:20]}-{i:06d}",
        "type": "page_view",
        "funnel_id": funnel_id,
        "step_id": str(uuid.uuid4()),
        "page_id": str(uuid.uuid4()),
        "visitor_id": f"v-{uuid.uuid4().hex[:12]}",
        "session_id": f"s-{uuid.uuid4().hex[:12]}",
        "occurred_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "properties": {"path": ""},
    }
    pad = EVENT_BYTES - len(_compact(body))
    if pad < 0:
        raise RuntimeError("the event is larger than EVENT_BYTES without padding")
    body["properties"] = {"path": "/" + "p" * (pad - 1)} if pad else {"path": ""}
    assert len(_compact(body)) == EVENT_BYTES
    return body


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- sections


@dataclass
class Row:
    """One measured line."""

    what: str
    load: Load
    per_request: int = 1
    baseline: float | None = None  # req/s of the row this one is compared with

    def cells(self) -> list[str]:
        """The row's table cells."""
        ratio = f"{self.load.rate / self.baseline:.2f}" if self.baseline else "1.00"
        return [
            self.what,
            f"{self.load.rate:,.0f}",
            f"{self.load.rate * self.per_request:,.0f}",
            f"{self.load.ms(0.5):.2f}",
            f"{self.load.ms(0.99):.2f}",
            ratio,
        ]


@dataclass
class Section:
    """A table and the lines under it."""

    title: str
    rows: list[Row]
    notes: list[str]


def setup_tenant(base_url: str) -> tuple[str, str]:
    """(publishable key, funnel id) of a new account, made through the API."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        body = {
            "email": f"bench-{uuid.uuid4().hex[:12]}@example.com",
            "password": "correct horse battery staple",
            "account_name": "Bench",
        }
        r = client.post("/api/v1/auth/register", json=body)
        r.raise_for_status()
        data = r.json()
        auth = {"Authorization": f"Bearer {data['access_token']}"}
        r = client.post(
            "/api/v1/funnels", json={"name": "Bench", "funnel_type": "sales"}, headers=auth
        )
        r.raise_for_status()
        return str(data["account"]["publishable_key"]), str(r.json()["id"])


Case = tuple[int, str, bytes, dict[str, str], int]  # port, path, body, headers, connections


def measure(cases: dict[str, Case], args: argparse.Namespace, redis_url: str) -> dict[str, Load]:
    """Every case once per round, interleaved (a busy machine changes speed over a minute);
    the round with the median rate stands for each case."""
    import redis

    client = redis.Redis.from_url(redis_url)
    samples: dict[str, list[Load]] = {name: [] for name in cases}
    try:
        for round_ in range(args.rounds):
            for name, (port, path, body, headers, conns) in cases.items():
                log(f"round {round_ + 1}/{args.rounds}: {name}, {conns} connections")
                fsync = "everysec" if name == EVERYSEC else "always"
                client.config_set("appendfsync", fsync)
                load = drive(port, http_request(port, path, body, headers), conns, args.seconds)
                samples[name].append(load)
    finally:
        client.config_set("appendfsync", "always")
        client.close()
    return {
        name: sorted(loads, key=lambda x: x.rate)[len(loads) // 2]
        for name, loads in samples.items()
    }


BARE, NAIVE, TRACK, EVERYSEC, BATCH = "bare", "naive", "track", "everysec", "batch"


def bench_api(servers: BenchServers, args: argparse.Namespace) -> Section:
    """Bare route, bare + XADD, /track and /track/batch, one uvicorn worker each."""
    env = api_env(servers)
    procs: list[Uvicorn] = []
    try:
        bare = start_uvicorn("bench._bare_track:app", env, servers.work_dir, "bare")
        procs.append(bare)
        api = start_uvicorn("api.main:app", env, servers.work_dir, "api")
        procs.append(api)
        key, funnel = setup_tenant(f"http://127.0.0.1:{api.port}")
        single = _compact(event_body(funnel))
        batch = _compact({"events": [event_body(funnel, i) for i in range(BATCH_SIZE)]})
        pk = {"X-Publishable-Key": key}
        c = args.connections
        track = (api.port, "/api/v1/analytics/track", single, pk, c)
        cases: dict[str, Case] = {
            BARE: (bare.port, "/track", single, {}, c),
            NAIVE: (bare.port, "/track-xadd", single, {}, c),
            TRACK: track,
            EVERYSEC: track,
            BATCH: (api.port, "/api/v1/analytics/track/batch", batch, pk, args.batch_connections),
        }
        loads = measure(cases, args, servers.redis_url)
    finally:
        for proc in procs:
            proc.stop()
    base = loads[BARE].rate
    rows = [
        Row(f"bare FastAPI route: parse a {EVENT_BYTES}-byte event, 202", loads[BARE]),
        Row("bare route + one awaited XADD per request", loads[NAIVE], baseline=base),
        Row("POST /api/v1/analytics/track (key, rate limits, queued)", loads[TRACK], baseline=base),
        Row(
            "the same, Redis at appendfsync everysec (diagnostic: the fsync's share)",
            loads[EVERYSEC],
            baseline=base,
        ),
        Row(
            f"POST /api/v1/analytics/track/batch, {BATCH_SIZE} events",
            loads[BATCH],
            per_request=BATCH_SIZE,
        ),
    ]
    ratio = loads[TRACK].rate / base
    events = loads[BATCH].rate * BATCH_SIZE
    notes = [
        f"/track: {ratio:.2f} of the bare route's req/s (aim >= {SINGLE_AIM:.2f}) -> "
        f"{'met' if ratio >= SINGLE_AIM else f'NOT met, short by {SINGLE_AIM - ratio:.2f}'}",
        f"/track/batch: {events:,.0f} events/s (aim >= {BATCH_AIM:,}) -> "
        f"{'met' if events >= BATCH_AIM else f'NOT met, {events / BATCH_AIM:.2f} of it'}",
    ]
    return Section(
        f"Ingestion over HTTP, one uvicorn worker each, {c} keep-alive connections "
        f"({args.batch_connections} for the batch), median of {args.rounds} interleaved rounds "
        f"of {args.seconds:.0f} s after a 1 s warm-up",
        rows,
        notes,
    )


# The drain helper adds `bench_drain` here (a function (servers, args) -> Section).
SECTIONS: list[tuple[str, Callable[[BenchServers, argparse.Namespace], Section]]] = [
    ("api", bench_api),
]


def render(section: Section) -> str:
    """A section as a Markdown table and its notes."""
    head = ["what", "req/s", "events/s", "p50 ms", "p99 ms", "x bare route"]
    lines = [
        f"### {section.title}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in section.rows]
    return "\n".join([*lines, "", *section.notes])


def main(argv: Sequence[str] | None = None) -> int:
    """Start the servers, run the sections, print the tables."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per row")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per row")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--batch-connections", type=int, default=8)
    parser.add_argument("--only", choices=[name for name, _ in SECTIONS], action="append")
    args = parser.parse_args(argv)
    servers = BenchServers()
    sections = []
    try:
        log("starting servers (embedded unless DATABASE_URL / REDIS_URL are set)")
        servers.start()
        for name, run in SECTIONS:
            if not args.only or name in args.only:
                sections.append(run(servers, args))
    finally:
        servers.stop()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}; load generator in the "
        "same box (this process)"
    )
    for section in sections:
        print()
        print(render(section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
