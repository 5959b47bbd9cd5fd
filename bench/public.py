"""Benchmark: published funnel pages served to visitors, against a static file, and opt-ins.

Run with `.venv/bin/python -m bench.public` (about a minute) or `--quick` (about 30 s).
Progress goes to stderr; the table goes to stdout.

PostgreSQL and Redis as bench/pages.py starts them (embedded in a temp dir unless
DATABASE_URL / REDIS_URL are set), one `uvicorn` process serving the API app with a static
directory mounted beside it (bench/_public_app.py: the same middleware stack), rate limits
off. A lead-magnet funnel is made from its template and published; its opt-in page is
saved byte for byte into the static directory, so both cases answer the same bytes: one
through the published-page route (account, funnel and snapshot read from PostgreSQL), one
from disk (Starlette's StaticFiles). Load: C keep-alive httpx clients in one asyncio loop,
as fast as they can, in alternating rounds of the two cases (so a noisy machine slows
both alike). Ratio = page requests/s over static requests/s; aim >= 50%.
Opt-in posts: the page's form posted with fresh addresses (CSRF token and cookie from one
GET per client), when this build has the opt-in route; otherwise the row says n/a.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx

from bench._servers import BenchServers
from bench.pages import Sample, api_env, log, register, start_api

AIM_RATIO = 0.5
CLIENTS = 16


@dataclass
class Load:
    """What one case's clients did: per-request latencies and the wall time they took."""

    times_ms: list[float] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        """Successful requests per second of wall time."""
        return len(self.times_ms) / self.seconds if self.seconds else 0.0

    def add(self, other: Load) -> None:
        """Fold another round in."""
        self.times_ms += other.times_ms
        self.failures += other.failures
        self.seconds += other.seconds


Request = Callable[[httpx.AsyncClient, int], Awaitable[bool]]


async def run_load(base: str, request: Request, clients: int, seconds: float) -> Load:
    """`clients` keep-alive clients sending `request` back to back for `seconds`."""
    load = Load()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        end = time.perf_counter() + seconds

        async def one_client(k: int) -> None:
            i = 0
            while time.perf_counter() < end:
                start = time.perf_counter()
                ok = await request(client, k * 1_000_000 + i)
                if ok:
                    load.times_ms.append((time.perf_counter() - start) * 1000)
                else:
                    load.failures += 1
                i += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client(k) for k in range(clients)))
        load.seconds = time.perf_counter() - started
    return load


def getter(path: str, expect: bytes) -> Request:
    """GET path; success when it answers 200 with exactly the expected bytes."""

    async def get(client: httpx.AsyncClient, _: int) -> bool:
        r = await client.get(path)
        return r.status_code == 200 and r.content == expect

    return get


class _OptinForm(HTMLParser):
    """The hidden inputs and action of a page's opt-in form."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and a.get("data-form") == "optin":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.hidden[str(a["name"])] = a.get("value") or ""


def poster(base: str, page_path: str, html: str) -> Request:
    """POST the opt-in form with a fresh address each time (2xx or 3xx counts)."""
    form = _OptinForm()
    form.feed(html)
    action = form.action or f"{page_path}/optin"
    token = secrets.token_urlsafe(32)

    async def post(client: httpx.AsyncClient, n: int) -> bool:
        data = {**form.hidden, "email": f"bench-{n}-{uuid.uuid4().hex[:6]}@example.com"}
        data["first_name"] = "Bench"
        # The double-submit token a browser's page script copies from its cookie.
        data["csrf_token"] = token
        headers = {"Origin": base, "Cookie": f"fp_csrf={token}"}
        r = await client.post(action, data=data, headers=headers)
        return r.status_code < 400

    return post


def publish_lead_magnet(base: str) -> str:
    """A new account's lead-magnet funnel, published: the opt-in page's path."""
    with httpx.Client(base_url=base, timeout=30) as client:
        _, headers = register(client, "Bench Public")
        client.headers.update(headers)
        slug = client.get("/api/v1/account").json()["slug"]
        templates = client.get("/api/v1/funnels/templates", params={"page_size": 100}).json()
        template = next(t for t in templates["items"] if t["key"] == "lead-magnet")
        r = client.post("/api/v1/funnels/from-template", json={"template_id": template["id"]})
        funnel = r.json()
        r = client.patch(f"/api/v1/funnels/{funnel['id']}", json={"status": "active"})
        if r.status_code != 200:
            raise RuntimeError(f"publish: {r.status_code} {r.text}")
        return f"/f/{slug}/{funnel['slug']}/{funnel['steps'][0]['slug']}"


def optin_route_exists(base: str, page_path: str, html: str) -> bool:
    """Whether posting the page's opt-in form reaches a route (not 404/405)."""

    async def probe() -> int:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await client.get(page_path)  # the form's cookies, as a browser would have them
            form = _OptinForm()
            form.feed(html)
            data = {**form.hidden, "email": "probe@example.com", "first_name": "Probe"}
            r = await client.post(form.action or f"{page_path}/optin", data=data)
            return r.status_code

    return asyncio.run(probe()) not in (404, 405)


def row(case: str, load: Load, baseline: Load | None) -> list[str]:
    """One table row."""
    sample = Sample(load.times_ms)
    ratio = "-" if baseline is None else f"{load.per_second / baseline.per_second:.0%}"
    return [
        case,
        str(sample.n),
        str(load.failures),
        f"{load.per_second:,.0f}",
        f"{sample.p50:.2f}",
        f"{sample.p99:.2f}",
        ratio,
    ]


def md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A markdown table, first column left-aligned."""
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([fmt(header), rule, *(fmt(b) for b in body)])


def bench(servers: BenchServers, rounds: int, seconds: float, clients: int) -> list[list[str]]:
    """Both GET cases in alternating rounds, then the opt-in posts (or n/a)."""
    static_dir = Path(servers.work_dir) / "static"
    static_dir.mkdir(parents=True, exist_ok=True)
    env = {**api_env(servers), "BENCH_STATIC_DIR": str(static_dir)}
    api = start_api(servers, env, app="bench._public_app:app")
    try:
        page_path = publish_lead_magnet(api.base_url)
        html = httpx.get(f"{api.base_url}{page_path}", timeout=30)
        html.raise_for_status()
        (static_dir / "page.html").write_bytes(html.content)
        log(f"published {page_path}: {len(html.content)} bytes; static copy saved")
        page, static = Load(), Load()
        get_page = getter(page_path, html.content)
        get_static = getter("/bench-static/page.html", html.content)
        asyncio.run(run_load(api.base_url, get_page, clients, 1.0))  # warm-up
        for i in range(rounds):
            page.add(asyncio.run(run_load(api.base_url, get_page, clients, seconds)))
            static.add(asyncio.run(run_load(api.base_url, get_static, clients, seconds)))
            log(
                f"round {i + 1}/{rounds}: page {page.per_second:,.0f}/s, "
                f"static {static.per_second:,.0f}/s"
            )
        rows = [
            row("GET published page /f/{account}/{funnel}/{step}", page, static),
            row("GET the same bytes as a static file (baseline)", static, static),
        ]
        if optin_route_exists(api.base_url, page_path, html.text):
            posts = asyncio.run(
                run_load(
                    api.base_url,
                    poster(api.base_url, page_path, html.text),
                    clients,
                    seconds * rounds,
                )
            )
            rows.append(row("POST opt-in form (fresh address each)", posts, None))
        else:
            rows.append(["POST opt-in form: n/a: no opt-in route", "-", "-", "-", "-", "-", "-"])
        return rows
    finally:
        api.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.public", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="shorter rounds (about 30 s)")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args(argv)
    rounds, seconds = (2, 3.0) if args.quick else (4, 5.0)
    started = time.perf_counter()
    servers = BenchServers()
    try:
        servers.start()
        rows = bench(servers, rounds, seconds, args.clients)
    finally:
        servers.stop()
    print(
        f"machine: {os.cpu_count()} CPUs ({os.getloadavg()[0]:.1f} load), {platform.machine()}, "
        f"Python {platform.python_version()}; "
        f"one uvicorn process; {args.clients} keep-alive clients in one asyncio loop on the same "
        f"machine; {rounds} alternating rounds of {seconds:.0f} s per case"
    )
    print()
    header = ["case", "requests", "failed", "req/s", "p50 ms", "p99 ms", "vs static"]
    print(md(header, rows))
    print()
    page_ratio = rows[0][-1]
    verdict = "met" if float(page_ratio.rstrip("%")) / 100 >= AIM_RATIO else "NOT met"
    print(
        f"Aim: published pages at >= {AIM_RATIO:.0%} of the static file's requests/s: "
        f"{page_ratio} -> {verdict}"
    )
    print(f"total bench time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
