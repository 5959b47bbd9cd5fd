"""Through the whole pipeline: signatures verify with the standardwebhooks verifier (rotation
too), and no address the SSRF policy refuses is ever connected to, at save or at send."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from domain.integrations.webhooks.signing import ROTATION_OVERLAP
from domain.shared.settings import get_settings
from tests.integrations.test_webhook_ssrf import CORPUS, NAMES
from tests.support.webhook_receiver import Receiver
from tests.support.webhooks import (
    BASE,
    WebhookTime,
    attempts_of,
    deliveries_of,
    record_contact_created,
    subscribe,
    webhook_time,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 that counts the connections it accepts."""
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def sim(tenant: Any) -> Iterator[WebhookTime]:
    """Simulated time for the tenant's webhooks (local receivers allowed)."""
    with webhook_time([tenant.account_id]) as s:
        yield s


def _headers(received: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in received.headers.items()}


def test_signatures_verify_before_during_and_after_a_rotation(
    client: Any, tenant: Any, receiver: Receiver, sim: WebhookTime
) -> None:
    endpoint = subscribe(client, tenant.headers, f"http://127.0.0.1:{receiver.port}/hook")
    old = Webhook(endpoint["secret"])
    record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    first = receiver.requests[-1]
    payload = old.verify(first.body, _headers(first))  # the receiver's own check
    assert payload["type"] == "contact.created"

    r = client.patch(
        f"{BASE}/{endpoint['id']}", json={"rotate_secret": True}, headers=tenant.headers
    )
    new = Webhook(r.json()["secret"])
    record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    during = receiver.requests[-1]
    assert len(_headers(during)["webhook-signature"].split()) == 2
    old.verify(during.body, _headers(during))  # a receiver not yet updated
    new.verify(during.body, _headers(during))  # and one already updated
    tampered = during.body.replace(b"contact.created", b"contact.updated")
    with pytest.raises(WebhookVerificationError):
        new.verify(tampered, _headers(during))

    sim.advance(seconds=ROTATION_OVERLAP.total_seconds() + 60)
    record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    after = receiver.requests[-1]
    # Signed a day ahead of the real clock, so compare signatures instead of verify().
    h = _headers(after)
    stamp = datetime.fromtimestamp(int(h["webhook-timestamp"]), tz=sim.now.tzinfo)
    body = after.body.decode()
    assert h["webhook-signature"].split() == [new.sign(h["webhook-id"], stamp, body)]
    assert old.sign(h["webhook-id"], stamp, body) not in h["webhook-signature"]


@pytest.fixture
def test_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus's *.test names answer as NAMES says, through the real getaddrinfo path."""
    real = socket.getaddrinfo

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in NAMES:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in NAMES[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


@pytest.mark.usefixtures("test_names")
def test_the_corpus_is_refused_when_saved_and_never_reaches_the_receiver(
    client: Any, tenant: Any, receiver: Receiver
) -> None:
    assert len(CORPUS) >= 20
    refused = []
    for host in CORPUS:
        for scheme in ("https", "http"):
            body = {"url": f"{scheme}://{host}:{receiver.port}/hook", "event_types": ["order.paid"]}
            r = client.post(BASE, json=body, headers=tenant.headers)
            refused.append((host, scheme, r.status_code, r.json().get("code")))
    assert {(status, code) for *_, status, code in refused} == {(422, "unsafe_url")}
    assert client.get(BASE, headers=tenant.headers).json()["total"] == 0
    assert receiver.connections == 0


LOOPBACK_FORMS = [
    "127.0.0.1",
    "2130706433",
    "0x7f.1",
    "127.1",
    "localhost",
    "[::ffff:127.0.0.1]",
    "loopback.test",
]


@pytest.mark.usefixtures("test_names")
def test_saved_when_allowed_then_refused_at_every_send(
    client: Any,
    tenant: Any,
    receiver: Receiver,
    sim: WebhookTime,
) -> None:
    """Endpoints saved while private URLs were allowed are refused when connecting."""
    endpoints = [
        subscribe(client, tenant.headers, f"http://{host}:{receiver.port}/hook")
        for host in LOOPBACK_FORMS
    ]
    sim.env.setenv("ALLOW_PRIVATE_WEBHOOK_URLS", "false")
    get_settings.cache_clear()
    record_contact_created(tenant.account_id)
    sim.advance(minutes=10)  # three attempts each
    assert receiver.connections == 0
    for endpoint in endpoints:
        [delivery] = deliveries_of(endpoint["id"])
        attempts = attempts_of(delivery.id)
        assert len(attempts) == 3
        assert all(a.status_code is None and "ConnectError" in (a.error or "") for a in attempts)
    # The control: allowed again, the next attempt of each reaches the receiver.
    sim.env.setenv("ALLOW_PRIVATE_WEBHOOK_URLS", "true")
    get_settings.cache_clear()
    sim.advance(minutes=35)
    assert receiver.connections == len(LOOPBACK_FORMS)
    assert len(receiver.requests) == len(LOOPBACK_FORMS)


def test_dns_answer_changing_between_save_and_send_is_refused(
    client: Any,
    tenant: Any,
    receiver: Receiver,
    sim: WebhookTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Public when saved, loopback when connecting: the send refuses, nothing connects."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        answers.append("93.184.215.14" if not answers else "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    sim.env.setenv("ALLOW_PRIVATE_WEBHOOK_URLS", "false")
    get_settings.cache_clear()
    endpoint = subscribe(client, tenant.headers, f"https://rebind.test:{receiver.port}/hook")
    record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    [delivery] = deliveries_of(endpoint["id"])
    [attempt] = attempts_of(delivery.id)
    assert "127.0.0.1" in (attempt.error or "")
    assert answers == ["93.184.215.14", "127.0.0.1"]
    assert receiver.connections == 0
    assert json.loads(delivery.body)["type"] == "contact.created"
