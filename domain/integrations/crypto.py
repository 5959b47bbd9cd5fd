"""Credentials at rest: Fernet tokens under rotatable keys (MultiFernet from `cryptography`).

INTEGRATIONS_ENCRYPTION_KEYS lists keys, comma-separated: the first encrypts, every one
decrypts. To rotate: put a new key first, run `python -m domain.integrations.crypto rotate`
(re-encrypts every integration's credentials and every webhook's signing secrets under the
first key), then drop the old key.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from domain.shared.settings import get_settings


class CredentialsUnreadable(Exception):
    """No configured key decrypts the stored credentials (a key was dropped too early)."""


def _fernet() -> MultiFernet:
    """The configured keys, the first one encrypting."""
    keys = [k.strip() for k in get_settings().integrations_encryption_keys.split(",") if k.strip()]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(data: dict[str, Any]) -> bytes:
    """A token of the JSON of data under the first key."""
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode())


def decrypt(token: bytes) -> dict[str, Any]:
    """The data a token holds; CredentialsUnreadable when no key opens it."""
    try:
        data: dict[str, Any] = json.loads(_fernet().decrypt(bytes(token)))
    except InvalidToken:
        raise CredentialsUnreadable("no configured key decrypts these credentials") from None
    return data


def encrypt_text(text: str) -> str:
    """A token of text, as text (for a job argument that must not be readable)."""
    return _fernet().encrypt(text.encode()).decode()


def decrypt_text(token: str) -> str:
    """The text a token holds."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable("no configured key decrypts this value") from None


def rotate_text(token: str) -> str:
    """The same text under the first key."""
    return rotate(token.encode()).decode()


def rotate(token: bytes) -> bytes:
    """The same data under the first key (MultiFernet.rotate)."""
    try:
        return _fernet().rotate(bytes(token))
    except InvalidToken:
        raise CredentialsUnreadable("no configured key decrypts these credentials") from None


def main(argv: list[str]) -> int:
    """`rotate`: re-encrypt credentials and webhook secrets under the first key."""
    if argv != ["rotate"]:
        print("usage: python -m domain.integrations.crypto rotate", file=sys.stderr)
        return 2
    import domain.models  # noqa: F401 - every mapper registered
    from domain.integrations import service
    from domain.integrations.webhooks import service as webhooks
    from domain.shared.db import unit_of_work

    with unit_of_work() as session:
        count = service.rotate_credentials(session)
        endpoints = webhooks.reencrypt_secrets(session)
    print(f"re-encrypted {count} integrations' credentials, {endpoints} webhooks' secrets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
