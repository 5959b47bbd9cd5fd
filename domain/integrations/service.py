"""Use cases of the email-provider integrations: connect, change, test, sync, erase."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from domain.integrations import clients, crypto, task_names
from domain.integrations import repository as repo
from domain.integrations.models import Integration, IntegrationSyncLog
from domain.integrations.providers import ProviderList
from domain.integrations.schemas import IntegrationIn, IntegrationPatch
from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.shared.db import utcnow
from domain.shared.errors import Conflict, NotFound
from domain.shared.schemas import PageParams

# A connection test should answer while the client polls: no hours of retries.
TEST_ATTEMPTS = 1


def connect(session: Session, *, account_id: uuid.UUID, data: IntegrationIn) -> Integration:
    """Store a new connection with its credentials encrypted; untested until its test runs."""
    integration = Integration(
        id=uuid.uuid4(),
        account_id=account_id,
        provider=data.provider,
        name=data.name or data.provider,
        credentials_encrypted=crypto.encrypt(data.credentials.model_dump()),
        settings=data.settings.model_dump(),
        enabled=data.enabled,
        status="untested",
    )
    session.add(integration)
    session.flush()
    return integration


def get(session: Session, *, account_id: uuid.UUID, integration_id: uuid.UUID) -> Integration:
    """One of the account's integrations, or 404."""
    integration = repo.get(session, account_id, integration_id)
    if integration is None:
        raise NotFound("Integration not found")
    return integration


def list_integrations(
    session: Session, *, account_id: uuid.UUID, page: PageParams
) -> tuple[list[Integration], int]:
    """A page of the account's integrations."""
    return repo.list_integrations(session, account_id, page)


def update(
    session: Session, *, account_id: uuid.UUID, integration_id: uuid.UUID, data: IntegrationPatch
) -> Integration:
    """Change what was sent; new credentials or another list: untested, everyone pushed again.

    Credentials are checked with the provider by the next test (a malformed Mailchimp key
    fails it with the reason).
    """
    integration = get(session, account_id=account_id, integration_id=integration_id)
    changes = data.changes()
    if "name" in changes:
        integration.name = changes["name"]
    if "enabled" in changes:
        integration.enabled = changes["enabled"]
    elsewhere = False
    if data.credentials is not None:
        sent = data.credentials.model_dump(exclude_none=True)
        if integration.provider != "activecampaign":
            sent.pop("account", None)
        old = crypto.decrypt(integration.credentials_encrypted)
        integration.credentials_encrypted = crypto.encrypt({**old, **sent})
        elsewhere = True
    if data.settings is not None:
        settings = {**integration.settings, **data.settings.changes()}
        elsewhere = elsewhere or settings.get("list_id") != integration.settings.get("list_id")
        integration.settings = settings
    if elsewhere:
        integration.status = "untested"
        integration.status_reason = None
        integration.synced_through = None
        repo.forget_contacts(session, integration.id)
    integration.updated_at = utcnow()
    return integration


def disconnect(session: Session, *, account_id: uuid.UUID, integration_id: uuid.UUID) -> None:
    """Delete the connection, its credentials, sync state and logs (the provider keeps its data)."""
    session.delete(get(session, account_id=account_id, integration_id=integration_id))
    session.flush()


def request_test(
    session: Session, *, account_id: uuid.UUID, integration_id: uuid.UUID
) -> tuple[Integration, Job]:
    """Queue a check of the credentials and the list with the provider."""
    integration = get(session, account_id=account_id, integration_id=integration_id)
    job = jobs.enqueue(
        session,
        account_id=account_id,
        task=task_names.TEST,
        arguments={"integration_id": str(integration.id)},
        max_attempts=TEST_ATTEMPTS,
    )
    return integration, job


def request_sync(
    session: Session, *, account_id: uuid.UUID, integration_id: uuid.UUID
) -> tuple[Integration, Job]:
    """Queue a sync of every consenting contact changed since it was last pushed."""
    integration = get(session, account_id=account_id, integration_id=integration_id)
    if not integration.enabled:
        raise Conflict("The integration is disabled", code="integration_disabled")
    job = jobs.enqueue(
        session,
        account_id=account_id,
        task=task_names.SYNC,
        arguments={"integration_id": str(integration.id), "trigger": "manual"},
    )
    return integration, job


def sync_logs(
    session: Session, *, account_id: uuid.UUID, integration_id: uuid.UUID, page: PageParams
) -> tuple[list[IntegrationSyncLog], int]:
    """A page of the integration's sync logs, newest first."""
    get(session, account_id=account_id, integration_id=integration_id)
    return repo.sync_logs(session, account_id, integration_id, page)


def provider_lists(
    session: Session, *, account_id: uuid.UUID, integration_id: uuid.UUID
) -> list[ProviderList]:
    """The provider's lists, asked now (502 provider_error if it refuses)."""
    integration = get(session, account_id=account_id, integration_id=integration_id)
    return [ProviderList(id_, name) for id_, name in clients.lists_now(integration)]


def push_contacts_soon(
    session: Session, *, account_id: uuid.UUID, contact_ids: list[uuid.UUID]
) -> list[Job]:
    """Queue a small push of these contacts to each integration that syncs as things happen."""
    ids = sorted({str(c) for c in contact_ids})
    return [
        jobs.enqueue(
            session,
            account_id=account_id,
            task=task_names.PUSH,
            arguments={"integration_id": str(i.id), "trigger": "event", "contact_ids": ids},
        )
        for i in repo.of_account(session, account_id, auto_sync_only=True)
    ]


def erase_contact_at_providers(session: Session, *, account_id: uuid.UUID, email: str) -> list[Job]:
    """Queue the deletion of this address at every connected provider (erasure).

    The address travels encrypted in the job's arguments and is dropped once the job is done.
    """
    return [
        jobs.enqueue(
            session,
            account_id=account_id,
            task=task_names.ERASE,
            arguments={"integration_id": str(i.id), "email_token": crypto.encrypt_text(email)},
        )
        for i in repo.of_account(session, account_id)
    ]


def rotate_credentials(session: Session) -> int:
    """Re-encrypt every integration's credentials under the first key; how many."""
    ids = repo.all_ids(session)
    for integration_id in ids:
        integration = repo.lock(session, integration_id)
        if integration is not None:
            integration.credentials_encrypted = crypto.rotate(integration.credentials_encrypted)
    return len(ids)
