"""The platform surface: every route of SPEC's Platform table, /health, /ready, start-up guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLATFORM_ROUTES = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("get", "/api/v1/auth/me"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/publishable-key/rotate"),
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("delete", "/api/v1/api-keys/{api_key_id}"),
    ("get", "/api/v1/jobs/{job_id}"),
    ("get", "/api/v1/products"),
    ("post", "/api/v1/products"),
    ("get", "/api/v1/products/{product_id}"),
    ("patch", "/api/v1/products/{product_id}"),
    ("delete", "/api/v1/products/{product_id}"),
    ("get", "/api/v1/contacts"),
    ("get", "/api/v1/contacts/{contact_id}"),
    ("get", "/health"),
    ("get", "/ready"),
}


def test_every_platform_route_is_in_the_openapi_document(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    present = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert present >= PLATFORM_ROUTES
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200


def test_health_and_ready(client: Any) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok", "payments": "ok"}


def test_ready_is_503_when_redis_and_broker_are_down(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routes import health
    from devtools.embedded import free_port
    from domain.shared.settings import get_settings
    from workers.celery_app import create_celery

    dead = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setattr(
        health, "get_settings", lambda: get_settings().model_copy(update={"redis_url": dead})
    )
    monkeypatch.setattr(health, "celery_app", create_celery(dead))
    r = client.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")
    assert body["checks"]["broker"].startswith("unavailable")


def test_app_refuses_to_start_in_production_with_the_default_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["ENVIRONMENT"] = "production"
    result = subprocess.run(
        [sys.executable, "-c", "import api.main"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
