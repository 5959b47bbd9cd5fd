"""Standard Webhooks signing, checked with the standardwebhooks verifier a receiver would use."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from domain.integrations.webhooks.client import guarded_client
from domain.integrations.webhooks.signing import (
    active_secrets,
    new_secret,
    signature_headers,
)
from tests.support.webhook_receiver import Receiver

BODY = json.dumps({"type": "order.paid", "data": {"order_id": "o_1", "amount_cents": 4900}})


def test_new_secret_has_the_spec_shape() -> None:
    """whsec_ + base64 of 32 random bytes, different every time."""
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_signature_verifies_and_tampering_does_not() -> None:
    """The receiver's verifier accepts our headers; another body, id or secret fails."""
    secret = new_secret()
    headers = signature_headers(
        message_id="msg_1", body=BODY, secrets=[secret], timestamp=datetime.now(UTC)
    )
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("4900", "1"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_during_rotation_both_secrets_sign() -> None:
    """Old and new secret both sign for 24 h; each alone verifies; after that only the new."""
    old, new = new_secret(), new_secret()
    rotated_at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    during = active_secrets(new, old, rotated_at, rotated_at + timedelta(hours=23))
    assert during == [new, old]
    headers = signature_headers(
        message_id="msg_r", body=BODY, secrets=during, timestamp=datetime.now(UTC)
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(BODY, headers) == json.loads(BODY)
    assert Webhook(new).verify(BODY, headers) == json.loads(BODY)
    after = active_secrets(new, old, rotated_at, rotated_at + timedelta(hours=24))
    assert after == [new]
    headers = signature_headers(
        message_id="msg_r", body=BODY, secrets=after, timestamp=datetime.now(UTC)
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, headers)
    assert active_secrets(new, None, None, rotated_at) == [new]


def test_bytes_body_and_other_time_zones_sign_the_same() -> None:
    """The timestamp header is Unix seconds whatever zone the caller used."""
    secret = new_secret()
    now = datetime.now(UTC).replace(microsecond=0)
    a = signature_headers(message_id="m", body=BODY, secrets=[secret], timestamp=now)
    b = signature_headers(
        message_id="m",
        body=BODY.encode(),
        secrets=[secret],
        timestamp=now.astimezone(datetime.now().astimezone().tzinfo),
    )
    assert a == b
    assert a["webhook-timestamp"] == str(int(now.timestamp()))
    with pytest.raises(ValueError, match="timezone"):
        signature_headers(
            message_id="m",
            body=BODY,
            secrets=[secret],
            timestamp=datetime(2026, 1, 1),  # noqa: DTZ001 (naive on purpose)
        )
    with pytest.raises(ValueError, match="secret"):
        signature_headers(message_id="m", body=BODY, secrets=[], timestamp=now)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that fails the first attempts, like an endpoint in an outage."""
    r = Receiver(status=503).start()
    yield r
    r.stop()


def test_retries_keep_the_webhook_id_and_verify_at_the_receiver(receiver: Receiver) -> None:
    """Three attempts of one delivery: same webhook-id, fresh timestamps, each verifies."""
    secret = new_secret()
    start = datetime.now(UTC)
    with guarded_client(allow_private=True) as client:
        for attempt in range(3):
            receiver.status = 200 if attempt == 2 else 503
            headers = signature_headers(
                message_id="msg_delivery_1",
                body=BODY,
                secrets=[secret],
                timestamp=start + timedelta(seconds=5 * attempt),
            )
            client.post(
                f"http://127.0.0.1:{receiver.port}/hook",
                content=BODY.encode(),
                headers={**headers, "content-type": "application/json"},
            )
    seen = receiver.requests
    assert [r.headers["webhook-id"] for r in seen] == ["msg_delivery_1"] * 3
    assert len({r.headers["webhook-timestamp"] for r in seen}) == 3
    for r in seen:
        assert Webhook(secret).verify(r.body, r.headers) == json.loads(BODY)
