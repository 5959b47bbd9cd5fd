"""`./dev up`: the whole system from one command on embedded servers; Ctrl-C ends it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import psutil

from devtools.embedded import free_port, pid_alive
from tests.support.funnels import live_checkout, ok
from tests.support.orders import ADDRESS, CUSTOMER, ORDERS, PI_URL

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - a local URL
        return r.status, r.read()


def _post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - a local URL
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
        return r.status, json.loads(r.read())


def _start(data_dir: str, api_port: int, flower_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATA_DIR=data_dir,
        API_PORT=str(api_port),
        FLOWER_PORT=str(flower_port),
        ENVIRONMENT="development",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "devtools", "up"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Ctrl-C to stop" in log.read_text(errors="replace"):
            return
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.3)
    raise AssertionError(log.read_text(errors="replace")[-3000:])


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=60)


def _wait_for(check: Any, what: str, log: Path, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:]
    raise AssertionError(f"timed out waiting for {what}:\n{tail}")


def _a_job_runs_through_the_worker(
    api: str, tokens: dict[str, Any], standin: Any, log: Path
) -> None:
    """A checkout's settling job: the API commits it, the worker settles it at the stand-in."""
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    with httpx.Client(base_url=api, timeout=10) as http:
        live = live_checkout(http, headers)
        cart = {**live["body"], "bump_product_ids": []}
        # Paid before the order exists, so the worker's first look settles it.
        intent = ok(http.post(PI_URL, json=cart, headers=headers), 201)
        standin.confirm_as_browser(intent["payment_intent_id"])
        body = {**cart, "payment_intent_id": intent["payment_intent_id"]}
        body.update(customer=CUSTOMER, billing_address=ADDRESS)
        order = ok(http.post(ORDERS, json=body, headers=headers), 202)

        def paid() -> bool:
            return ok(http.get(f"{ORDERS}/{order['id']}", headers=headers))["status"] == "paid"

        _wait_for(paid, "the worker to settle the order", log)
        job = ok(http.get(f"/api/v1/jobs/{order['job_id']}", headers=headers))
        assert (job["status"], job["result"]) == ("succeeded", {"status": "paid"})


def _beat_ran_the_sweep(log: Path) -> None:
    """Beat sent its outbox sweep and the worker ran it (both print to ./dev up's output)."""

    def swept() -> Any:
        text = log.read_text(errors="replace")
        sent = "Sending due task sweep-outbox (jobs.sweep_outbox)" in text
        return sent and re.search(r"Task jobs\.sweep_outbox\[[^\]]+\] succeeded in", text)

    _wait_for(swept, "beat's sweep to run in the worker", log, timeout=45)


def test_dev_up_runs_everything_keeps_data_and_stops_cleanly(standin: Any) -> None:
    data_dir = tempfile.mkdtemp(prefix="fup", dir="/tmp")
    api_port, flower_port = free_port(), free_port()
    log = Path(data_dir) / "up.log"
    api = f"http://127.0.0.1:{api_port}"

    process = _start(data_dir, api_port, flower_port, log)
    try:
        _wait_ready(process, log)
        status, body = _get(f"{api}/ready")
        assert status == 200
        assert json.loads(body)["status"] == "ready"
        assert _get(f"{api}/docs")[0] == 200
        assert _get(f"http://127.0.0.1:{flower_port}/")[0] == 200
        status, tokens = _post_json(
            f"{api}/api/v1/auth/register",
            {"email": "owner@example.com", "password": "long password", "account_name": "Up"},
        )
        assert status == 201
        _a_job_runs_through_the_worker(api, tokens, standin, log)
        _beat_ran_the_sweep(log)
        children = [p.pid for p in psutil.Process(process.pid).children(recursive=True)]
        assert len(children) >= 6  # api, worker and its pool, beat, flower, redis
    finally:
        code = _stop(process)
    assert code == 0
    time.sleep(1)
    assert [pid for pid in children if pid_alive(pid)] == []
    assert "(embedded)" in log.read_text()

    # The data lives in DATA_DIR and survives a restart.
    log = Path(data_dir) / "up-again.log"
    process = _start(data_dir, api_port, flower_port, log)
    try:
        _wait_ready(process, log)
        status, tokens = _post_json(
            f"{api}/api/v1/auth/login", {"email": "owner@example.com", "password": "long password"}
        )
        assert status == 200
        assert tokens["access_token"]
    finally:
        assert _stop(process) == 0
        shutil.rmtree(data_dir, ignore_errors=True)
