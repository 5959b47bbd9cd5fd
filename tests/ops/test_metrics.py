"""/metrics: Prometheus text computed at scrape time, token-protected, no tenant's data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery import Celery
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, text, update

from api import metrics
from domain.events import service as event_service
from domain.jobs import outbox
from domain.jobs import service as jobs
from domain.jobs.models import Job, OutboxMessage
from domain.jobs.queues import QUEUES
from domain.shared.db import unit_of_work, utcnow
from domain.shared.metrics import Gauge
from domain.shared.settings import get_settings
from workers import publisher
from workers.celery_app import create_celery
from workers.metrics import queue_keys

TOKEN = "scrape-token-0123456789abcdef"
ALLOWED_LABELS = {"queue", "task", "status", "source", "consumer", "table"}


def _scrape(
    client: Any, headers: dict[str, str] | None = None
) -> dict[tuple[str, tuple[Any, ...]], float]:
    """The scrape parsed by prometheus_client's own parser: (name, labels) -> value."""
    r = client.get("/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    figures = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
            figures[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return figures


def _value(figures: dict[tuple[str, tuple[Any, ...]], float], name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def _settings_env(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Change settings for one test; they come back afterwards."""
    yield lambda **env: _settings_env(monkeypatch, **env)
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def broker(servers: Any, settings_env: Any) -> Iterator[Celery]:
    """A broker of this test's own (another database of the test Redis), that no worker
    consumes: the app publishes to it and /metrics reads it."""
    parts = urlsplit(servers.redis_url)
    url = urlunsplit(parts._replace(path="/15"))
    client = redis.Redis.from_url(url)
    keys = [key for queue in QUEUES for key in queue_keys(queue)]
    client.delete(*keys)
    settings_env(CELERY_BROKER_URL=url)
    app = create_celery(url)
    outbox.set_publisher(publisher.publisher_for(app))
    yield app
    publisher.install()
    app.close()
    client.delete(*keys)
    client.close()


def _enqueue(account_id: uuid.UUID, delay_seconds: float = 0) -> uuid.UUID:
    with unit_of_work() as session:
        return jobs.enqueue(
            session, account_id=account_id, task="testing.record", delay_seconds=delay_seconds
        ).id


def _forget(*job_ids: uuid.UUID) -> None:
    """Delete the test's jobs (their outbox rows go with them): no sweep ever sends them."""
    with unit_of_work() as session:
        session.execute(delete(Job).where(Job.id.in_(job_ids)))


def test_queue_depth_and_jobs_by_state_move_when_a_job_is_enqueued(
    client: Any, tenant: Any, broker: Celery
) -> None:
    before = _scrape(client)
    job_id = _enqueue(tenant.account_id)
    # kombu keeps prioritised messages in a list of their own: they count too
    broker.send_task("testing.record", kwargs={}, queue="payments", priority=5)
    after = _scrape(client)
    try:
        assert _value(after, "funnels_broker_queue_messages", queue="default") == 1
        assert _value(after, "funnels_broker_queue_messages", queue="payments") == 1
        assert _value(before, "funnels_broker_queue_messages", queue="default") == 0
        key = ("funnels_jobs", {"task": "testing.record", "status": "queued"})
        assert _value(after, key[0], **key[1]) == _value(before, key[0], **key[1]) + 1
        assert _value(after, "funnels_metrics_source_up", source="broker") == 1
        assert _value(after, "funnels_metrics_source_up", source="outbox") == 1
    finally:
        _forget(job_id)


def test_oldest_due_outbox_message_shows_its_age(client: Any, tenant: Any) -> None:
    def refuse(message: outbox.OutgoingMessage) -> None:
        raise ConnectionError("broker unreachable")

    outbox.set_publisher(refuse)
    try:
        before = _scrape(client)
        due = _enqueue(tenant.account_id)
        later = _enqueue(tenant.account_id, delay_seconds=3600)  # not due: not counted
        with unit_of_work() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.job_id == due)
                .values(available_at=utcnow() - timedelta(days=10))
            )
        after = _scrape(client)
    finally:
        publisher.install()
    try:
        assert _value(after, "funnels_outbox_due_messages") == (
            _value(before, "funnels_outbox_due_messages") + 1
        )
        assert _value(after, "funnels_outbox_oldest_due_age_seconds") >= 10 * 86400
    finally:
        _forget(due, later)
    # Back to what it was (another test's overdue row, if any, is older still).
    before_age = _value(before, "funnels_outbox_oldest_due_age_seconds")
    final_age = _value(_scrape(client), "funnels_outbox_oldest_due_age_seconds")
    assert final_age < 10 * 86400 or final_age >= before_age > 10 * 86400


def test_a_broker_that_is_down_leaves_the_other_gauges(client: Any, settings_env: Any) -> None:
    settings_env(CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    figures = _scrape(client)
    assert _value(figures, "funnels_metrics_source_up", source="broker") == 0
    assert not any(name == "funnels_broker_queue_messages" for name, _ in figures)
    assert _value(figures, "funnels_metrics_source_up", source="outbox") == 1


def test_no_tenant_data_is_shown(client: Any, tenant: Any) -> None:
    job_id = _enqueue(tenant.account_id)
    try:
        text = client.get("/metrics").text
    finally:
        _forget(job_id)
    for secret in (str(tenant.account_id), tenant.email, tenant.slug, str(job_id)):
        assert secret not in text


def test_the_token_is_enforced_when_set(client: Any, settings_env: Any) -> None:
    settings_env(METRICS_TOKEN=TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ):
        r = client.get("/metrics", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["code"] == "not_authenticated"
    assert (
        _value(
            _scrape(client, {"Authorization": f"Bearer {TOKEN}"}),
            "funnels_metrics_source_up",
            source="outbox",
        )
        == 1
    )


def test_production_without_a_token_hides_metrics(client: Any, settings_env: Any) -> None:
    # Production refuses the development encryption key: give it one of its own.
    own_key = Fernet.generate_key().decode()
    settings_env(ENVIRONMENT="production", METRICS_TOKEN=None, INTEGRATIONS_ENCRYPTION_KEYS=own_key)
    r = client.get("/metrics")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    settings_env(METRICS_TOKEN=TOKEN)
    assert client.get("/metrics").status_code == 401
    _scrape(client, {"Authorization": f"Bearer {TOKEN}"})


def test_a_short_or_empty_token_setting(settings_env: Any) -> None:
    settings_env(METRICS_TOKEN="")
    assert get_settings().metrics_token is None  # compose passes an unset variable as ""
    settings_env(METRICS_TOKEN="short")
    with pytest.raises(ValueError, match="metrics_token"):
        get_settings()


def test_a_module_adds_its_gauges_and_they_read_in_a_guarded_transaction(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def session_guards(session: Any) -> Any:
        read_only = session.execute(text("SHOW transaction_read_only")).scalar_one()
        timeout = session.execute(text("SHOW statement_timeout")).scalar_one()
        yield (read_only, timeout), 1.0

    later_module = Gauge("funnels_test_guards", "test", session_guards, labels=("ro", "timeout"))
    sources = metrics.gauge_sources
    monkeypatch.setattr(metrics, "gauge_sources", lambda: [*sources(), later_module])
    # each events-feed consumer's lag, as the events context computes it
    monkeypatch.setattr(event_service, "consumer_lags", lambda _session: {"analytics": 3})

    r = client.get("/metrics")
    figures = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
    }
    assert figures[("funnels_test_guards", (("ro", "on"), ("timeout", "5s")))] == 1
    assert figures[("funnels_feed_consumer_lag_events", (("consumer", "analytics"),))] == 3
    assert figures[("funnels_metrics_source_up", (("source", "feed"),))] == 1
