"""Benchmark: checkouts through the API, a Celery worker and a Stripe stand-in.

Run with `.venv/bin/python -m bench.checkout` (about 3 minutes) or `--quick` (about 2);
progress on stderr, tables on stdout. It starts, and stops by pid (also on Ctrl-C), embedded
PostgreSQL and Redis, `uvicorn api.main:app` (rate limits off), a Celery worker as `./dev up`
runs it, and two `python -m devtools.stripe_standin`, one posting to the API's webhook.

A checkout is what a checkout page does with the publishable key: POST
/orders/payment-intent, POST /orders (202), the confirm at the stand-in as Stripe.js sends
it, then GET /orders/{id} after 50, 75, 112, ... (at most 500) ms until `paid`; by 1, 16 and
64 concurrent clients (asyncio tasks here). Baseline, same concurrency: the Stripe calls
alone, straight to the other stand-in with the `stripe` client (customer, PaymentIntent with
setup_future_usage=off_session, confirm as the browser, retrieve). Aims: p50 within 2x of
the bare calls; >= 100 checkouts/s at 64 clients.

What dominates (the breakdown puts orders.paid_at and the webhook inbox's received_at on the
clients' clock): at one client, the API's own work per request (POST /orders: ~15 SQL
statements, two commits and a broker publish, ~40 ms in-process) and the polling interval.
From 16 clients on, the two CPUs are saturated: the API, the worker, PostgreSQL, both
stand-ins and the clients share them. The webhook stand-in posts only the events the endpoint
acts on (as a live endpoint is subscribed at Stripe), with 8 concurrent deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import stripe

from bench._servers import ROOT, BenchServers
from bench.pages import Sample, api_env, log, start_api
from devtools.embedded import free_port
from domain.jobs.queues import QUEUES
from domain.orders.service import SETTLING_EVENTS
from tests.support.funnels import live_checkout

LEVELS = (1, 16, 64)
AIM_RATIO, AIM_RATE = 2.0, 100.0
POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.05, 1.5, 0.5  # seconds
PAID_TIMEOUT = 60.0
SECRET_KEY = "sk_test_bench_" + secrets.token_hex(8)
BROWSER_KEY = "pk_test_bench_browser"  # what Stripe.js holds (the stand-in takes any pk_test_)
CARD = "pm_card_visa"
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
WEBHOOK_PATH = "/api/v1/orders/stripe/webhook"
_numbers = itertools.count(1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL its process group (its own session) if it lingers 20 s."""
    proc.terminate()  # nothing is sent to a process that has exited and been reaped
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the leader is still there: no race on the id
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def spawn(
    argv: list[str], env: dict[str, str], log_path: Path, procs: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """Start argv from the repo root in its own session (Ctrl-C reaches only us); stdout piped."""
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=out, start_new_session=True,
        )  # fmt: skip
    procs.append(proc)
    return proc


def start_standin(
    base: str, env: dict[str, str], work: Path, procs: list[subprocess.Popen[bytes]], *args: str
) -> None:
    """`python -m devtools.stripe_standin` at base (args: --webhook-secret, ...)."""
    port = base.rsplit(":", 1)[1]
    argv = [sys.executable, "-m", "devtools.stripe_standin", "--port", port, *args]
    proc = spawn(argv, env, work / f"standin-{port}.log", procs)
    assert proc.stdout is not None
    printed = [proc.stdout.readline().decode().strip() for _ in range(2)]
    if printed[0] != f"STRIPE_API_BASE={base}" or not printed[1].startswith("STRIPE_WEBHOOK"):
        raise RuntimeError(f"stand-in: {printed} {(work / f'standin-{port}.log').read_text()}")


def start_worker(env: dict[str, str], work: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """A Celery worker on every queue, as devtools/up.py starts it; waits until it is ready."""
    argv = [str(Path(sys.executable).parent / "celery"), "-A", "workers.celery_app:celery_app",
            "worker", "-Q", ",".join(QUEUES), "--loglevel", "INFO", "--concurrency", "2",
            "-n", f"bench-{os.getpid()}@%h", "--without-mingle", "--without-gossip"]  # fmt: skip
    log_path = work / "worker.log"
    proc = spawn(argv, env, log_path, procs)
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker not ready:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)


@dataclass
class Shop:
    """A live order form, the keys its checkout page and its owner hold, where they talk to."""

    cart: dict[str, Any]
    publishable: dict[str, str]
    owner: dict[str, str]
    api_url: str
    standin: str


@dataclass
class Checkout:
    """One checkout's moments in time.time() seconds, the clock the servers stamp rows with."""

    at: dict[str, float]
    order_id: str = ""


def _ok(r: httpx.Response, status: int) -> dict[str, Any]:
    """The JSON body of a response that must have this status."""
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
    body: dict[str, Any] = r.json()
    return body


async def api_checkout(api: httpx.AsyncClient, browser: httpx.AsyncClient, shop: Shop) -> Checkout:
    """payment-intent, order, confirm as Stripe.js does, poll the order until it is paid."""
    at = {"start": time.time()}
    r = await api.post("/api/v1/orders/payment-intent", json=shop.cart, headers=shop.publishable)
    intent, at["intent"] = _ok(r, 201), time.time()
    customer = {"email": f"buyer-{next(_numbers)}@example.com", "first_name": "Ada"}
    body = {**shop.cart, "payment_intent_id": intent["payment_intent_id"], "customer": customer}
    r = await api.post(
        "/api/v1/orders", json=body | {"billing_address": ADDRESS}, headers=shop.publishable
    )
    order, at["order"] = _ok(r, 202), time.time()
    form = {"payment_method": CARD, "client_secret": intent["client_secret"], "key": BROWSER_KEY}
    r = await browser.post(f"/v1/payment_intents/{intent['payment_intent_id']}/confirm", data=form)
    if _ok(r, 200)["status"] != "succeeded":
        raise RuntimeError(f"confirm: {r.text}")
    at["confirmed"], pause = time.time(), POLL_FIRST
    while time.time() - at["confirmed"] < PAID_TIMEOUT:
        await asyncio.sleep(pause)
        pause = min(POLL_MAX, pause * POLL_GROWTH)  # what a polite checkout page does
        seen = _ok(await api.get(f"/api/v1/orders/{order['id']}", headers=shop.owner), 200)
        if seen["status"] == "paid":
            at["end"] = time.time()
            return Checkout(at, order["id"])
    raise RuntimeError(f"order {order['id']} not paid after {PAID_TIMEOUT:.0f} s")


async def bare_checkout(sk: stripe.StripeClient, pk: stripe.StripeClient) -> Checkout:
    """The Stripe calls of one checkout, straight to the stand-in with the official client."""
    at, n = {"start": time.time()}, next(_numbers)
    customer = await sk.v1.customers.create_async(options={"idempotency_key": f"b{n}:cus"})
    # The parameters the API's gateway sends (domain/orders/stripe_gateway.py).
    intent = await sk.v1.payment_intents.create_async(
        params={"amount": 9800, "currency": "usd", "customer": customer.id,
                "setup_future_usage": "off_session", "metadata": {"checkout_id": str(n)},
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}},
        options={"idempotency_key": f"b{n}:pi"},
    )  # fmt: skip
    as_browser: Any = {"payment_method": CARD, "client_secret": intent.client_secret}
    await pk.v1.payment_intents.confirm_async(intent.id, as_browser)
    if (await sk.v1.payment_intents.retrieve_async(intent.id)).status != "succeeded":
        raise RuntimeError(f"bare: {intent.id} did not succeed")
    at["end"] = time.time()
    return Checkout(at)


@dataclass
class Level:
    """What one concurrency level measured, and what the checks found."""

    clients: int
    rate: float = 0.0  # completed checkouts per second
    done: list[Checkout] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    check: str = ""
    settled_by: dict[str, int] = field(default_factory=dict)

    def ms(self, a: str, b: str) -> Sample:
        """Milliseconds from moment a to moment b, over the checkouts that have both."""
        return Sample([(c.at[b] - c.at[a]) * 1000 for c in self.done if a in c.at and b in c.at])


async def run_level(
    clients: int, per_client: int, cap: float, one: Callable[[], Awaitable[Checkout]]
) -> Level:
    """Two untimed checkouts, then `per_client` each from every client, none started after cap s."""
    level = Level(clients)
    for _ in range(2):
        await one()
    start = time.perf_counter()

    async def client() -> None:
        for _ in range(per_client):
            if time.perf_counter() - start > cap:
                return
            try:
                level.done.append(await one())
            except Exception as exc:  # counted and shown: a lost checkout must not hide
                where = f" {exc.request.url.path}" if isinstance(exc, httpx.RequestError) else ""
                level.errors.append(f"{type(exc).__name__}{where}: {exc}"[:160])

    await asyncio.gather(*(client() for _ in range(clients)))
    level.rate = len(level.done) / (time.perf_counter() - start)
    return level


async def measure_api(shop: Shop, clients: int, n: int, cap: float) -> Level:
    """The API checkout at one concurrency level."""
    # Idle connections expire before uvicorn's 5 s keep-alive closes them under our feet.
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=2)
    async with (
        httpx.AsyncClient(base_url=shop.api_url, timeout=60, limits=limits) as api,
        httpx.AsyncClient(base_url=shop.standin, timeout=60, limits=limits) as browser,
    ):
        return await run_level(clients, n, cap, lambda: api_checkout(api, browser, shop))


async def measure_bare(standin: str, clients: int, n: int, cap: float) -> Level:
    """The bare Stripe calls at one concurrency level, as the API's gateway makes them."""
    sk, pk = (
        stripe.StripeClient(key, base_addresses={"api": standin}, max_network_retries=0,
                            http_client=stripe.HTTPXClient(timeout=60))
        for key in (SECRET_KEY, BROWSER_KEY)
    )  # fmt: skip
    return await run_level(clients, n, cap, lambda: bare_checkout(sk, pk))


def drain(conninfo: str, timeout: float = 150) -> None:
    """Wait for the paid orders' jobs to finish and the stand-in's webhooks to stop coming."""
    # Not for every job: an order whose checkout failed is never paid and retries for minutes.
    deadline, last = time.monotonic() + timeout, -1
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM jobs j JOIN orders o ON o.status = 'paid'"
                " AND o.id::text = j.arguments->>'order_id'"
                " WHERE j.status IN ('queued', 'running')), (SELECT count(*) FROM stripe_events)"
            ).fetchone()
            assert row is not None
            if row[0] == 0 and row[1] == last:
                return
            last = row[1]
            time.sleep(1)
    log(f"drain: still busy after {timeout:.0f} s")


SETTLERS = ("the webhook's job", "POST /orders' job, 1st attempt", "POST /orders' job, a retry")


def verify(conninfo: str, standin: str, level: Level) -> None:
    """Check the orders in our DB and their charges at the stand-in; add the server's moments."""
    ids = [c.order_id for c in level.done]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT o.id::text, o.number, o.status = 'paid' AND c.status = 'succeeded'"
            " AND c.captured_cents = o.total_cents, c.stripe_payment_intent_id,"
            " c.stripe_charge_id, o.total_cents, extract(epoch FROM o.paid_at)::float,"
            " (SELECT extract(epoch FROM min(e.received_at))::float FROM stripe_events e"
            "  WHERE e.type = 'payment_intent.succeeded'"
            "  AND e.payload->'data'->'object'->>'id' = c.stripe_payment_intent_id)"
            " FROM orders o JOIN order_charges c ON c.order_id = o.id AND c.kind = 'main'"
            " WHERE o.id::text = ANY(%s)",
            [ids],
        ).fetchall()
        # The job that paid an order is the first of its jobs to finish at or after paid_at.
        settlers = conn.execute(
            "SELECT DISTINCT ON (o.id) j.arguments ? 'stripe_event', j.attempts FROM orders o"
            " JOIN jobs j ON j.arguments->>'order_id' = o.id::text AND j.finished_at >= o.paid_at"
            " WHERE o.id::text = ANY(%s) ORDER BY o.id, j.finished_at",
            [ids],
        ).fetchall()
    charged = set()  # the stand-in's word: each PaymentIntent's successful charge
    with httpx.Client(base_url=standin, auth=(SECRET_KEY, ""), timeout=30) as stripe_http:
        for r in rows:
            pi = _ok(stripe_http.get(f"/v1/payment_intents/{r[3]}?expand[]=latest_charge"), 200)
            charge = pi["latest_charge"] or {}
            if charge.get("status") == "succeeded" and charge.get("amount_captured") == r[5]:
                charged.add(charge["id"])
    paid, numbers = sum(1 for r in rows if r[2]), len({r[1] for r in rows})
    good = paid == numbers == len(charged) == len(ids) and charged == {r[4] for r in rows}
    level.check = (
        f"{level.clients} clients: {len(ids)} orders, {paid} paid with the amount captured, "
        f"{numbers} distinct order numbers, {len(charged)} charges at the stand-in (one per "
        f"PaymentIntent, the one order_charges names), {len(level.errors)} failed checkouts "
        f"-> {'ok' if good else 'WRONG'}"
    )
    server = {r[0]: {"paid": r[6], "webhook": r[7]} for r in rows}
    for c in level.done:
        c.at.update({k: v for k, v in server.get(c.order_id, {}).items() if v is not None})
    level.settled_by = dict.fromkeys(SETTLERS, 0)
    for by_webhook, attempts in settlers:
        level.settled_by[SETTLERS[0 if by_webhook else 1 if attempts == 1 else 2]] += 1


PIECES = (
    ("POST /orders/payment-intent (API + 2 Stripe calls)", "start", "intent"),
    ("POST /orders -> 202 (API + 1 Stripe call)", "intent", "order"),
    ("confirm at the stand-in, as Stripe.js", "order", "confirmed"),
    ("confirm answered -> its webhook reaches the API", "confirmed", "webhook"),
    ("confirm answered -> orders.paid_at", "confirmed", "paid"),
    ("orders.paid_at -> the poll sees it", "paid", "end"),
    ("POST /orders sent -> orders.paid_at", "intent", "paid"),
    ("POST /orders sent -> the poll sees paid", "intent", "end"),
)


def md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A markdown table, first column left-aligned, the others right-aligned."""
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths))
    return "\n".join([fmt(header), f"|{rule}|", *(fmt(b) for b in body)])


def _cell(sample: Sample) -> str:
    """'p50 / p99' of a sample, or '-' when it is empty."""
    return f"{sample.p50:.0f} / {sample.p99:.0f}" if sample.n else "-"


def report(api: list[Level], bare: list[Level], quick: bool) -> None:
    """Print the tables, the aims and the correctness lines."""
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
          f"{platform.python_version()}, mode: {'--quick' if quick else 'full'}")  # fmt: skip
    header = ["clients", "checkouts", "per s", "p50 ms", "p99 ms", "POST /orders->paid p50",
              "p99", "bare per s", "bare p50 ms", "bare p99 ms", "ratio p50"]  # fmt: skip
    rows, verdicts = [], []
    for a, b in zip(api, bare, strict=True):
        full, paid, base = a.ms("start", "end"), a.ms("intent", "end"), b.ms("start", "end")
        ratio = full.p50 / base.p50 if full.n and base.n else float("nan")
        rows.append([str(a.clients), str(full.n), f"{a.rate:.1f}", f"{full.p50:.0f}",
                     f"{full.p99:.0f}", f"{paid.p50:.0f}", f"{paid.p99:.0f}", f"{b.rate:.1f}",
                     f"{base.p50:.0f}", f"{base.p99:.0f}", f"{ratio:.2f}x"])  # fmt: skip
        verdicts.append(f"  {a.clients} clients: {ratio:.2f}x -> "
                        f"{'met' if ratio <= AIM_RATIO else 'NOT met'}")  # fmt: skip
    print("\n### Checkouts through the API and a worker vs the bare Stripe calls\n")
    print(md(header, rows) + "\n")
    print("ratio = API checkout p50 / bare Stripe calls p50 (same clients, a stand-in each).")
    print(f"Aim: p50 within {AIM_RATIO:.0f}x of the bare calls.", *verdicts, sep="\n")
    top = api[-1]
    print(f"Aim: >= {AIM_RATE:.0f} checkouts/s at {top.clients} clients: {top.rate:.1f}/s -> "
          f"{'met' if top.rate >= AIM_RATE else 'NOT met'}")  # fmt: skip
    print("\n### Where a checkout's time goes (p50 / p99 ms; one clock for clients and servers)\n")
    body = [[label, *(_cell(a.ms(x, y)) for a in api)] for label, x, y in PIECES]
    body += [[f"orders paid by {k}", *(str(a.settled_by.get(k, 0)) for a in api)] for k in SETTLERS]
    print(md(["piece", *(f"{a.clients} clients" for a in api)], body) + "\n")
    print("Correctness, checked after each level once the jobs and webhooks had drained:")
    for a in api:
        print(f"  {a.check}", *(f"    error: {e}" for e in sorted(set(a.errors))[:4]), sep="\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Start everything, run the levels, stop everything, print the tables."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.checkout", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer checkouts (about 2 minutes)")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the processes' logs here")
    args = parser.parse_args(argv)
    if args.keep_logs:  # now, so that a bad path fails before anything is started
        Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
    per_client, cap = ({1: 10, 16: 3, 64: 2}, 20.0) if args.quick else ({1: 30, 16: 8, 64: 3}, 45.0)
    started = time.perf_counter()
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: the finally below stops everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    servers, procs = BenchServers(), list[subprocess.Popen[bytes]]()  # ours, stopped by pid
    api_levels, bare_levels = list[Level](), list[Level]()
    try:
        servers.start()
        work = Path(servers.work_dir)
        base_env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
        bare_url, standin = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
        start_standin(bare_url, base_env, work, procs)
        # The API needs its stand-in's address and the stand-in the API's: fix port and secret.
        secret = "whsec_" + secrets.token_hex(16)
        env = {**api_env(servers), "STRIPE_API_KEY": SECRET_KEY, "STRIPE_API_BASE": standin,
               "STRIPE_WEBHOOK_SECRET": secret}  # fmt: skip
        api = start_api(servers, env)
        procs.append(api.proc)
        # As a live endpoint is set up at Stripe: subscribed to the events it acts on, and
        # delivered concurrently (Stripe does not post an endpoint's events one at a time).
        events = ",".join(sorted(SETTLING_EVENTS))
        hook = ["--webhook-secret", secret, "--webhook-url", api.base_url + WEBHOOK_PATH,
                "--webhook-events", events, "--webhook-threads", "8"]  # fmt: skip
        start_standin(standin, base_env, work, procs, *hook)
        start_worker({**base_env, **env}, work, procs)
        log(f"api {api.base_url}, stand-ins {standin} (webhooks) and {bare_url} (baseline)")
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            email = f"owner-{secrets.token_hex(6)}@example.com"
            reg = {"email": email, "password": "correct horse battery", "account_name": "Shop"}
            owner = _ok(client.post("/api/v1/auth/register", json=reg), 201)
            headers = {"Authorization": f"Bearer {owner['access_token']}"}
            live = live_checkout(client, headers)
        cart = {**live["body"], "bump_product_ids": live["order"]["bump_product_ids"]}
        pk = {"X-Publishable-Key": owner["account"]["publishable_key"]}
        shop = Shop(cart, pk, headers, api.base_url, standin)
        for clients in LEVELS:
            n = per_client[clients]
            log(f"{clients} clients x {n}: bare Stripe calls")
            bare_levels.append(asyncio.run(measure_bare(bare_url, clients, n, cap)))
            log(f"{clients} clients x {n}: checkouts through the API")
            level = asyncio.run(measure_api(shop, clients, n, cap))
            api_levels.append(level)
            log(f"  {level.rate:.1f}/s, {len(level.errors)} failed; draining jobs and webhooks")
            drain(servers.conninfo)
            verify(servers.conninfo, standin, level)
    finally:
        for proc in reversed(procs):
            stop(proc)
        if args.keep_logs and servers.work_dir:
            for path in Path(servers.work_dir).glob("*.log"):
                shutil.copy(path, Path(args.keep_logs) / path.name)
        servers.stop()
        log("processes stopped, temp dirs removed")
    report(api_levels, bare_levels, args.quick)
    print(f"\ntotal bench time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
