"""Run the stand-in on its own: `python -m devtools.stripe_standin --port 12111`.

Useful for benchmarks (its own process, so it does not share the caller's GIL) and for
trying the API with curl. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import signal
import threading

from devtools.stripe_standin.standin import StripeStandin


def main() -> None:
    """Start a stand-in and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--webhook-url", default=None, help="POST every event here, signed")
    parser.add_argument("--webhook-secret", default=None, help="default: a random whsec_")
    parser.add_argument(
        "--webhook-events", default=None, help="comma-separated types to post (default: all)"
    )
    parser.add_argument(
        "--webhook-threads", type=int, default=1, help="concurrent deliveries (1: in order)"
    )
    args = parser.parse_args()
    standin = StripeStandin(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        webhook_threads=args.webhook_threads,
    )
    if args.webhook_events:
        standin.webhook_types = set(args.webhook_events.split(","))
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"STRIPE_API_BASE={standin.start()}", flush=True)
    print(f"STRIPE_WEBHOOK_SECRET={standin.webhook_secret}", flush=True)
    stop.wait()
    standin.stop()


if __name__ == "__main__":
    main()
