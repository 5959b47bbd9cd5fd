"""The adapter for a stored integration: credentials decrypted only here, for one call's life."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from limits.storage import MemoryStorage, Storage, storage_from_string

from domain.integrations import crypto
from domain.integrations.models import Integration
from domain.integrations.providers import (
    ActiveCampaignProvider,
    MailchimpProvider,
    SendGridProvider,
)
from domain.shared.errors import AppError
from domain.shared.remote import RemoteError
from domain.shared.settings import get_settings

Adapter = MailchimpProvider | SendGridProvider | ActiveCampaignProvider


class ProviderFailed(AppError):
    """The provider refused or failed a call made while the client waits (the lists)."""

    status_code = 502
    code = "provider_error"


@lru_cache
def _rate_storage(redis_url: str | None) -> Storage:
    """Pace every worker of one credential together through Redis (memory without one)."""
    if not redis_url:
        return MemoryStorage()
    storage = storage_from_string(redis_url)
    assert isinstance(storage, Storage)  # a synchronous one: the URL names no async scheme
    return storage


def build(integration: Integration) -> Adapter:
    """An adapter reaching the integration's provider with its credentials and settings."""
    settings = get_settings()
    creds = crypto.decrypt(integration.credentials_encrypted)
    config: dict[str, Any] = integration.settings
    storage = _rate_storage(settings.redis_url)
    key: str = creds["api_key"]
    if integration.provider == "mailchimp":
        return MailchimpProvider(
            key,
            config["list_id"],
            base_url=settings.mailchimp_api_base,
            rate_storage=storage,
        )
    if integration.provider == "sendgrid":
        return SendGridProvider(
            key,
            [config["list_id"]] if config.get("list_id") else [],
            base_url=settings.sendgrid_api_base or "https://api.sendgrid.com",
            tags_field_id=config.get("tags_field_id"),
            rate_storage=storage,
        )
    return ActiveCampaignProvider(
        key,
        creds.get("account"),
        list_id=config.get("list_id"),
        base_url=settings.activecampaign_api_base,
        rate_storage=storage,
    )


@contextmanager
def connected(integration: Integration) -> Iterator[Adapter]:
    """The adapter, closed afterwards."""
    provider = build(integration)
    try:
        yield provider
    finally:
        provider.close()


def lists_now(integration: Integration) -> list[tuple[str, str]]:
    """The provider's lists, asked now; a provider failure is a 502 with its words."""
    try:
        with connected(integration) as provider:
            return [(x.id, x.name) for x in provider.list_lists()]
    except (RemoteError, crypto.CredentialsUnreadable) as error:
        raise ProviderFailed(str(error)) from None
