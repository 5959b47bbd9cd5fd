"""`./dev demo` on the test servers: visitors buy, the worker settles, Ctrl-C ends it.

The demo gets a database of its own on the suite's PostgreSQL (its beat and worker must
not touch the suite's data) and a Redis database of its own on the suite's Redis.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from devtools.embedded import free_port, pid_alive
from devtools.scratch import ScratchServers, psycopg_conninfo

ROOT = Path(__file__).resolve().parents[2]
# Counted in the database, not from the demo's own output.
COUNTS = """
    SELECT
      (SELECT count(*) FROM orders o WHERE o.account_id = a.id) AS orders,
      (SELECT count(*) FROM orders o WHERE o.account_id = a.id AND o.status = 'paid') AS paid,
      (SELECT count(*) FROM order_bumps b JOIN orders o ON o.id = b.order_id
        WHERE o.account_id = a.id) AS bumps,
      (SELECT count(*) FROM order_upsells u JOIN orders o ON o.id = u.order_id
        WHERE o.account_id = a.id) AS offers_answered,
      (SELECT count(*) FROM contacts c WHERE c.account_id = a.id) AS contacts,
      (SELECT count(*) FROM ab_tests t WHERE t.account_id = a.id AND t.status = 'running')
        AS running_tests,
      (SELECT count(*) FROM domain_events e
        WHERE e.account_id = a.id AND e.type = 'contact.opted_in') AS opted_in
    FROM accounts a JOIN users u ON u.account_id = a.id
    WHERE u.email = 'demo@example.com'
"""


def _start(servers: ScratchServers, data_dir: str, log: Path) -> subprocess.Popen[bytes]:
    # Redis database 7: the demo's worker must not take tasks meant for the suite's workers.
    redis_url = re.sub(r"/\d+$", "", servers.redis_url) + "/7"
    env = {
        **os.environ,
        "DATABASE_URL": servers.database_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": data_dir,
        "API_PORT": str(free_port()),
        "FLOWER_PORT": str(free_port()),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "devtools", "demo", "--rate", "8", "--seed", "7"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_orders(process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> str:
    """The log once a progress line shows a few orders and a paid one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        counts = re.findall(r"orders (\d+) .*\| paid \(API\) (\d+)", output)
        if counts and int(counts[-1][0]) >= 3 and int(counts[-1][1]) >= 1:
            return output
        assert process.poll() is None, output[-3000:]
        time.sleep(0.5)
    raise AssertionError(log.read_text(errors="replace")[-3000:])


@pytest.fixture
def own_database() -> Iterator[ScratchServers]:
    """A fresh database on the suite's PostgreSQL (the demo migrates it), dropped after."""
    servers = ScratchServers(prefix="funnels_demo")
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


def test_dev_demo_drives_visitors_to_orders_and_stops_cleanly(
    own_database: ScratchServers,
) -> None:
    data_dir = own_database.temp_dir("fdemo")
    log = Path(data_dir) / "demo.log"
    process = _start(own_database, data_dir, log)
    try:
        output = _wait_for_orders(process, log)
        children = [p.pid for p in psutil.Process(process.pid).children(recursive=True)]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0, log.read_text(errors="replace")[-3000:]
    time.sleep(1)
    assert len(children) >= 4  # api, worker (and its pool), beat, flower
    assert [pid for pid in children if pid_alive(pid)] == []

    # It said where to look.
    live = re.search(r"Live funnel\s+(http://\S+/f/[\w-]+/[\w-]+)", output)
    assert live is not None, output[-3000:]
    assert "Login         demo@example.com / " in output
    assert re.search(r"Split test\s+http://\S+/api/v1/analytics/ab-tests/[0-9a-f-]{36} ", output)
    assert re.search(r"Stripe\s+http://127\.0\.0\.1:\d+ \(the stand-in\)", output)

    with psycopg.connect(psycopg_conninfo(own_database.database_url)) as conn:
        cur = conn.execute(COUNTS)
        assert cur.description is not None
        counts = dict(zip([d.name for d in cur.description], cur.fetchone() or (), strict=True))
    assert counts["orders"] >= 3, counts
    assert counts["paid"] >= 1, counts
    assert counts["contacts"] >= 1, counts
    assert counts["offers_answered"] >= 1, counts
    # Every buyer opted in first, through the page's form (CSRF token from its cookie).
    assert counts["opted_in"] >= counts["orders"], counts
    assert counts["running_tests"] == 1, counts
