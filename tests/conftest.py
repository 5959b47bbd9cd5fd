"""The test harness: real servers for the session, a migrated database, the app, factories."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import TestServers

ROOT = Path(__file__).resolve().parent.parent
_servers = TestServers()

TEST_SETTINGS = {
    "ENVIRONMENT": "test",
    "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
    "RATE_LIMIT_USER": "100000/hour",
    "RATE_LIMIT_ACCOUNT": "100000/hour",
    "RATE_LIMIT_LOGIN": "100000/hour",
    "RATE_LIMIT_TRACKING": "100000/hour",
    "RATE_LIMIT_TRACKING_CLIENT": "100000/hour",
    "RATE_LIMIT_OPTIN": "100000/hour",
    "OUTBOX_RELAY_GRACE_SECONDS": "0",
    # Workers look again at a checkout being paid within a second or two; the hour-long
    # schedules are exercised in simulated time (tests/integration/test_long_waits.py).
    "WAIT_SCHEDULE": "0.5s,1s,2s",
    "RETRY_SCHEDULE_DEFAULT": "1s,2s,4s,8s,16s,32s",
    # Nothing reaches the real Stripe: tests that pay point this at their stand-in. Real-looking
    # secrets, because unset or placeholder ones switch payments off (503 payments_not_configured);
    # the `standin` fixture replaces the webhook secret with the stand-in's.
    "STRIPE_API_BASE": "http://127.0.0.1:9",
    "STRIPE_API_KEY": "sk_test_suite0000000000000000000000",
    "STRIPE_WEBHOOK_SECRET": "whsec_suite00000000000000000000000000",
    # Nor the real email providers: tests that sync point these at their stand-ins.
    "MAILCHIMP_API_BASE": "http://127.0.0.1:9",
    "SENDGRID_API_BASE": "http://127.0.0.1:9",
    "ACTIVECAMPAIGN_API_BASE": "http://127.0.0.1:9",
}


def pytest_configure(config: pytest.Config) -> None:
    """Start the servers before any test module imports the app (it reads settings once)."""
    if hasattr(config, "workerinput"):
        return
    _servers.start()
    os.environ.update(TEST_SETTINGS)
    os.environ["DATABASE_URL"] = _servers.database_url
    os.environ["REDIS_URL"] = _servers.redis_url
    os.environ.pop("CELERY_BROKER_URL", None)
    # Uploaded assets go to a directory of the run's own, never the repo's .data/.
    os.environ["ASSET_DIR"] = tempfile.mkdtemp(prefix="funnels-assets-")
    from devtools.scratch import run_alembic

    run_alembic(_servers.database_url)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop what pytest_configure started."""
    from domain.shared.db import dispose_engine

    dispose_engine()
    _servers.stop()
    shutil.rmtree(os.environ.get("ASSET_DIR", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def servers() -> TestServers:
    """The running test servers."""
    return _servers


@pytest.fixture(scope="session")
def app() -> Any:
    """The FastAPI app under test."""
    import tests.support.tasks  # noqa: F401 - registers the suite's own task
    from api.main import create_app
    from tests.support.probe_routes import router

    app = create_app()
    app.include_router(router)
    return app


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """An HTTP client talking to the app in-process."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class Tenant:
    """A registered account with its owner's tokens."""

    account_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    password: str
    access_token: str
    refresh_token: str
    publishable_key: str
    slug: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header of the owner."""
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture
def make_tenant(client: Any) -> Any:
    """Register fresh accounts through the API (unique data isolates tests)."""

    def make(name: str = "Acme") -> Tenant:
        email = f"owner-{uuid.uuid4().hex[:12]}@example.com"
        password = "correct horse battery staple"
        r = client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "account_name": name},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return Tenant(
            account_id=uuid.UUID(body["account"]["id"]),
            user_id=uuid.UUID(body["user"]["id"]),
            email=email,
            password=password,
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            publishable_key=body["account"]["publishable_key"],
            slug=body["account"]["slug"],
        )

    return make


@pytest.fixture
def tenant(make_tenant: Any) -> Tenant:
    """One fresh account."""
    return make_tenant()  # type: ignore[no-any-return]


@pytest.fixture
def other_tenant(make_tenant: Any) -> Tenant:
    """A second, unrelated account."""
    return make_tenant("Other Co")  # type: ignore[no-any-return]


@pytest.fixture
def db() -> Iterator[Any]:
    """A session inside a transaction that is rolled back after the test."""
    from sqlalchemy.orm import Session

    from domain.shared.db import get_engine

    connection = get_engine().connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(scope="session")
def worker(stripe_server: Any) -> Iterator[Any]:
    """A real Celery worker process consuming every queue of the test broker.

    Its Stripe is the session's stand-in, the one the `standin` fixture points the app at.
    """
    from tests.support.worker import CeleryWorker

    w = CeleryWorker({**os.environ, "STRIPE_API_BASE": stripe_server.base_url}, name="suite")
    w.start()
    yield w
    w.stop()


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[Any]:
    """A Stripe stand-in (devtools/stripe_standin), started on first use."""
    from devtools.stripe_standin import StripeStandin

    with StripeStandin() as standin:
        yield standin


@pytest.fixture
def standin(stripe_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stand-in, emptied, with the app's Stripe gateway pointed at it."""
    from domain.orders.stripe_gateway import gateway
    from domain.shared.settings import get_settings

    stripe_server.reset()
    monkeypatch.setenv("STRIPE_API_BASE", stripe_server.base_url)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", stripe_server.webhook_secret)
    get_settings.cache_clear()
    gateway.cache_clear()
    yield stripe_server
    monkeypatch.undo()
    get_settings.cache_clear()
    gateway.cache_clear()
