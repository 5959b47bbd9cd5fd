"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import SettingsDep
from domain.shared.db import get_engine
from domain.shared.settings import get_settings
from workers.celery_app import celery_app

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


def _check_database() -> None:
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_redis() -> None:
    url = get_settings().redis_url
    if not url:
        raise RuntimeError("REDIS_URL is not set")
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=1)


@router.get("/ready", responses={503: {"description": "a dependency is down"}})
def ready(settings: SettingsDep) -> JSONResponse:
    """Database, Redis and the broker are reachable (503 with the failing ones if not).

    Payments are reported, not required: without Stripe secrets the rest of the system works
    (checkout answers 503 payments_not_configured), so the answer stays 200 and `missing`
    names the settings to set.
    """
    checks: dict[str, Any] = {}
    for name, check in (
        ("database", _check_database),
        ("redis", _check_redis),
        ("broker", _check_broker),
    ):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks[name] = f"unavailable: {exc.__class__.__name__}"
    ok = all(value == "ok" for value in checks.values())
    missing = settings.missing_payment_settings()
    checks["payments"] = f"not configured: {', '.join(missing)}" if missing else "ok"
    body = {"status": "ready" if ok else "unavailable", "checks": checks, "missing": missing}
    if not ok:
        body |= {"error": "Not ready", "code": "not_ready"}
    return JSONResponse(body, status_code=200 if ok else 503)
