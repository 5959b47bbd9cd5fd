"""Standard Webhooks signing (https://www.standardwebhooks.com) with the `standardwebhooks` package.

A secret is `whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64). Each delivery
carries `webhook-id` (the same on every retry of one delivery, so receivers can deduplicate),
`webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`: one `v1,<base64>`
per secret that signs, separated by spaces, so during a rotation the old and the new secret
both sign and a receiver that knows either one verifies the message.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix the spec gives secrets)
SECRET_BYTES = 32
# How long the previous secret keeps signing beside the new one after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def active_secrets(
    current: str, previous: str | None, rotated_at: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign now: the current one, and the previous one for 24 h after rotating."""
    keep_previous = previous and rotated_at is not None and now < rotated_at + ROTATION_OVERLAP
    return [current, previous] if keep_previous and previous else [current]


def signature_headers(
    *, message_id: str, body: bytes | str, secrets: Sequence[str], timestamp: datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every given secret."""
    if not secrets:
        raise ValueError("at least one secret signs a webhook")
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    # The package stamps the datetime as UTC wall time, so hand it a UTC one.
    when = timestamp.astimezone(UTC)
    data = body.decode("utf-8") if isinstance(body, bytes) else body
    signatures = [Webhook(s).sign(msg_id=message_id, timestamp=when, data=data) for s in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
