"""`./dev demo`: the system as `./dev up` runs it, paid through the Stripe stand-in, with a
demo funnel and simulated visitors going through it until Ctrl-C (or --seconds).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import time

import httpx

from devtools import up
from devtools.demo_seed import (
    AB_TESTS,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    Demo,
    SeedError,
    login,
    seed,
)
from devtools.demo_visitors import Tally, Visitor
from devtools.stripe_standin import DEFAULT_API_KEY, StripeStandin

PROGRESS_EVERY = 5.0


def paid_orders(demo: Demo) -> str:
    """How many of the funnel's orders the system has settled as paid, as the API says."""
    params = {"funnel_id": demo.funnel["id"], "status": "paid", "page_size": 1}
    try:
        with httpx.Client(base_url=demo.api, timeout=10) as client:
            for _ in range(2):
                headers = {"Authorization": f"Bearer {demo.token}"}
                r = client.get("/api/v1/orders", params=params, headers=headers)
                if r.status_code != 401:
                    break
                demo.token = login(client)  # access tokens are short-lived; the demo is not
    except (httpx.HTTPError, SeedError) as err:
        return f"? ({type(err).__name__})"
    return str(r.json()["total"]) if r.status_code == 200 else f"? ({r.status_code})"


class DemoSupervisor(up.Supervisor):
    """`./dev up` plus the Stripe stand-in, the demo funnel and its visitors."""

    def __init__(self, *, seconds: float | None, rate: float, seed_value: int | None) -> None:
        """Nothing runs yet; the stand-in starts with the servers."""
        super().__init__()
        self.seconds, self.rate = seconds, rate
        self.rng = random.Random(seed_value)  # noqa: S311 - visitors' choices, not secrets
        self.standin: StripeStandin | None = None

    @property
    def api(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.env.get('API_PORT', '8000')}"

    def start_servers(self) -> None:
        """PostgreSQL and Redis as `./dev up` starts them, then the stand-in in Stripe's place."""
        super().start_servers()
        self.standin = StripeStandin(webhook_url=f"{self.api}/api/v1/orders/stripe/webhook")
        base = self.standin.start()
        up.say("stripe", f"Stripe stand-in on {base} (payments go there, not to Stripe)")
        self.env.update(
            STRIPE_API_BASE=base,
            STRIPE_API_KEY=DEFAULT_API_KEY,
            STRIPE_WEBHOOK_SECRET=self.standin.webhook_secret,
        )

    def spawn(self, child: up.Child) -> subprocess.Popen[bytes]:
        """Start a child as `./dev up` does, but quieter: the progress line stays readable."""
        argv = ["WARNING" if arg == "INFO" else arg for arg in child.argv]
        if child.name == "api":
            argv.append("--no-access-log")
        child.argv = argv
        return super().spawn(child)

    def watch(self) -> None:
        """Seed the demo, then send visitors through it until stopped (or out of time)."""
        try:
            demo = seed(self.api)
        except (SeedError, httpx.HTTPError) as err:
            raise up.Failed(f"could not set up the demo funnel: {err}") from err
        self.print_demo_banner(demo)
        tally = Tally()
        assert self.standin is not None
        started = next_progress = time.monotonic()
        while not self.stop_requested.is_set():
            self.fail_if_child_died()
            if self.seconds is not None and time.monotonic() - started >= self.seconds:
                break
            began = time.monotonic()
            Visitor(demo, self.standin.base_url, tally, self.rng).walk()
            if time.monotonic() >= next_progress:
                self.progress(tally, demo)
                next_progress = time.monotonic() + PROGRESS_EVERY
            self.stop_requested.wait(max(0.0, 1 / self.rate - (time.monotonic() - began)))
        self.progress(tally, demo)

    def progress(self, tally: Tally, demo: Demo) -> None:
        """The progress line, and each new note (a route this build lacks, an error)."""
        up.say("demo", f"{tally.line()} | paid (API) {paid_orders(demo)}")
        for note in tally.new_notes():
            up.say("demo", f"note: {note}")

    def print_demo_banner(self, demo: Demo) -> None:
        """Where to look."""
        funnel_id = demo.funnel["id"]
        analytics = f"{self.api}/api/v1/analytics/funnels/{funnel_id}"
        flower = f"http://127.0.0.1:{self.env.get('FLOWER_PORT', '5555')}"
        lines = [
            "",
            "=" * 72,
            "  Demo funnel is live; simulated visitors are going through it",
            f"    Live funnel   {demo.funnel_url}   (open it in a browser)",
            f"    Login         {DEMO_EMAIL} / {DEMO_PASSWORD}  at {self.api}/docs",
            f"    Bearer token  {demo.token}",
            f"    Orders        {self.api}/api/v1/orders?funnel_id={funnel_id}",
            f"    Revenue       {self.api}/api/v1/orders/analytics?funnel_id={funnel_id}",
            f"    Contacts      {self.api}/api/v1/contacts",
            f"    Overview      {analytics}/overview",
            f"    Drop-offs     {analytics}/dropoffs?format=svg",
            f"    Split test    {demo.split_test or AB_TESTS}",
            f"    Flower        {flower}",
            f"    Stripe        {self.env['STRIPE_API_BASE']} (the stand-in)",
            "  (API URLs need the bearer token: curl -H 'Authorization: Bearer <token>' URL)",
            "  Ctrl-C to stop.",
            "=" * 72,
            "",
        ]
        with up._print_lock:
            print("\n".join(lines), flush=True)

    def shutdown(self) -> None:
        """Stop the system, then the stand-in."""
        super().shutdown()
        if self.standin is not None:
            self.standin.stop()


def main(argv: list[str]) -> int:
    """Entry point of `python -m devtools demo [--seconds N] [--rate R] [--seed S]`."""
    parser = argparse.ArgumentParser(prog="dev demo", description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--rate", type=float, default=2.0, help="visitors per second (at most)")
    parser.add_argument("--seed", type=int, default=None, help="make the visitors' choices repeat")
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    return DemoSupervisor(seconds=args.seconds, rate=args.rate, seed_value=args.seed).run()
