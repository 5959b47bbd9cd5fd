"""`./dev demo` on the test servers: visitors buy, the worker settles, Ctrl-C ends it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text

from devtools.embedded import free_port, pid_alive
from domain.shared.db import unit_of_work

ROOT = Path(__file__).resolve().parents[2]
# Counted in the database, not from the demo's own output.
COUNTS = text(
    """
    SELECT
      (SELECT count(*) FROM orders o WHERE o.account_id = a.id) AS orders,
      (SELECT count(*) FROM orders o WHERE o.account_id = a.id AND o.status = 'paid') AS paid,
      (SELECT count(*) FROM order_bumps b JOIN orders o ON o.id = b.order_id
        WHERE o.account_id = a.id) AS bumps,
      (SELECT count(*) FROM order_upsells u JOIN orders o ON o.id = u.order_id
        WHERE o.account_id = a.id) AS offers_answered,
      (SELECT count(*) FROM contacts c WHERE c.account_id = a.id) AS contacts
    FROM accounts a JOIN users u ON u.account_id = a.id
    WHERE u.email = 'demo@example.com'
    """
)


def _start(servers: Any, data_dir: str, log: Path) -> subprocess.Popen[bytes]:
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
            [sys.executable, "-m", "devtools", "demo", "--rate", "4", "--seed", "7"],
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
        if counts and int(counts[-1][0]) >= 4 and int(counts[-1][1]) >= 1:
            return output
        assert process.poll() is None, output[-3000:]
        time.sleep(0.5)
    raise AssertionError(log.read_text(errors="replace")[-3000:])


def test_dev_demo_drives_visitors_to_orders_and_stops_cleanly(servers: Any) -> None:
    data_dir = tempfile.mkdtemp(prefix="fdemo", dir="/tmp")
    log = Path(data_dir) / "demo.log"
    process = _start(servers, data_dir, log)
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
    assert re.search(r"Split test\s+\S", output)
    assert re.search(r"Stripe\s+http://127\.0\.0\.1:\d+ \(the stand-in\)", output)

    with unit_of_work() as session:
        counts = session.execute(COUNTS).one()._asdict()
    assert counts["orders"] >= 4, counts
    assert counts["paid"] >= 1, counts
    assert counts["contacts"] >= 1, counts
    assert counts["offers_answered"] >= 1, counts
