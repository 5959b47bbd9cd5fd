"""Email-provider integrations (SPEC-FUN-005 #52-#59 and the provider's lists).

Ids are matched as uuids in the path (`{integration_id:uuid}`), so these routes never take
`/api/v1/integrations/webhooks/...`, whichever router is mounted first.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from api.deps import CurrentPrincipal, DbSession, Pagination
from api.openapi import ACCEPTED_WITH_JOB
from domain.integrations import service as integrations
from domain.integrations.schemas import (
    IntegrationIn,
    IntegrationJobOut,
    IntegrationOut,
    IntegrationPatch,
    ProviderListOut,
    ProviderListsOut,
    SyncLogOut,
)
from domain.jobs.models import Job
from domain.shared.schemas import Page, page_of

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])
ONE = "/{integration_id:uuid}"


def _accepted(integration_id: uuid.UUID, job: Job, response: Response) -> IntegrationJobOut:
    """202's body and Location: the job to poll."""
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return IntegrationJobOut(integration_id=integration_id, job_id=job.id, status=job.status)


@router.post("/email", response_model=IntegrationOut, status_code=status.HTTP_201_CREATED)
def connect(body: IntegrationIn, principal: CurrentPrincipal, db: DbSession) -> IntegrationOut:
    """Connect Mailchimp, SendGrid or ActiveCampaign; the credentials are never shown back.

    Stored untested: `POST …/test` checks them with the provider.
    """
    return IntegrationOut.model_validate(
        integrations.connect(db, account_id=principal.account_id, data=body)
    )


@router.get("", response_model=Page[IntegrationOut])
def list_integrations(
    principal: CurrentPrincipal, db: DbSession, page: Pagination
) -> Page[IntegrationOut]:
    """The account's email-provider integrations, oldest first."""
    rows, total = integrations.list_integrations(db, account_id=principal.account_id, page=page)
    return page_of(IntegrationOut, rows, total, page)


@router.get(ONE, response_model=IntegrationOut)
def get_integration(
    integration_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession
) -> IntegrationOut:
    """One integration: settings and state; the credentials are never shown back."""
    return IntegrationOut.model_validate(
        integrations.get(db, account_id=principal.account_id, integration_id=integration_id)
    )


@router.patch(ONE, response_model=IntegrationOut)
def update_integration(
    integration_id: uuid.UUID, body: IntegrationPatch, principal: CurrentPrincipal, db: DbSession
) -> IntegrationOut:
    """Change name, settings (replaced whole), credentials or enabled.

    New credentials or another list make it untested, and every consenting contact is pushed
    again by the next sync.
    """
    return IntegrationOut.model_validate(
        integrations.update(
            db, account_id=principal.account_id, integration_id=integration_id, data=body
        )
    )


@router.delete(ONE, status_code=status.HTTP_204_NO_CONTENT)
def disconnect(integration_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> None:
    """Disconnect: credentials, sync state and logs are deleted (the provider keeps its data)."""
    integrations.disconnect(db, account_id=principal.account_id, integration_id=integration_id)


@router.post(
    ONE + "/test",
    response_model=IntegrationJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**ACCEPTED_WITH_JOB},
)
def test_integration(
    integration_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, response: Response
) -> IntegrationJobOut:
    """Check the connection with the provider in a worker; a failure marks the integration."""
    integration, job = integrations.request_test(
        db, account_id=principal.account_id, integration_id=integration_id
    )
    return _accepted(integration.id, job, response)


@router.post(
    ONE + "/sync",
    response_model=IntegrationJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **ACCEPTED_WITH_JOB,
        409: {"description": "The integration is disabled (`integration_disabled`)"},
    },
)
def sync_integration(
    integration_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, response: Response
) -> IntegrationJobOut:
    """Push the consenting contacts changed since they were last pushed, in a worker."""
    integration, job = integrations.request_sync(
        db, account_id=principal.account_id, integration_id=integration_id
    )
    return _accepted(integration.id, job, response)


@router.get(ONE + "/sync-logs", response_model=Page[SyncLogOut])
def sync_logs(
    integration_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, page: Pagination
) -> Page[SyncLogOut]:
    """What each sync run did, newest first: counts, per-contact errors, why it stopped."""
    rows, total = integrations.sync_logs(
        db, account_id=principal.account_id, integration_id=integration_id, page=page
    )
    return page_of(SyncLogOut, rows, total, page)


@router.get(
    ONE + "/lists",
    response_model=ProviderListsOut,
    responses={502: {"description": "The provider refused or failed (`provider_error`)"}},
)
def provider_lists(
    integration_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession
) -> ProviderListsOut:
    """The provider's lists (Mailchimp audiences), asked now, to pick `settings.list_id`."""
    lists = integrations.provider_lists(
        db, account_id=principal.account_id, integration_id=integration_id
    )
    return ProviderListsOut(items=[ProviderListOut(id=x.id, name=x.name) for x in lists])
