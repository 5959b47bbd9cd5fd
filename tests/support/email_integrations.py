"""Email-provider integrations in tests: the three stand-ins, connecting, contacts, settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from domain.contacts import service as contacts
from domain.integrations.models import IntegrationSyncLog
from domain.jobs.models import Job
from domain.shared.db import unit_of_work
from tests.support.email_standins import ActiveCampaignStandin, MailchimpStandin, SendGridStandin
from tests.support.simulated import SimulatedTime, simulated_time

MC_KEY = "0123456789abcdef0123456789abcdef-us6"
SG_KEY = "SG.standin-key.0123456789abcdefghijklmnopqrstuvwxyz"
AC_KEY = "ac0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
KEYS = (MC_KEY, SG_KEY, AC_KEY)


@dataclass
class Providers:
    """The three stand-ins, running."""

    mc: MailchimpStandin
    sg: SendGridStandin
    ac: ActiveCampaignStandin

    def env(self) -> dict[str, str]:
        """Settings pointing the adapters at the stand-ins."""
        return {
            "MAILCHIMP_API_BASE": self.mc.base_url,
            "SENDGRID_API_BASE": self.sg.base_url,
            "ACTIVECAMPAIGN_API_BASE": self.ac.base_url,
        }

    def reset(self) -> None:
        """Clean state: audience L1, list sg-list-1, list 7; SendGrid jobs finish at once."""
        for standin in (self.mc, self.sg, self.ac):
            standin.reset()
        self.mc.add_list("L1", "Newsletter")
        self.sg.add_list("sg-list-1", "Buyers")
        self.sg.pending_polls = 0
        self.ac.add_list("7", "Leads")

    def violations(self) -> list[str]:
        """Request shapes the stand-ins refused."""
        return [*self.mc.violations, *self.sg.violations, *self.ac.violations]


@contextmanager
def running_providers() -> Iterator[Providers]:
    """Start the three stand-ins; stop them afterwards."""
    found = Providers(
        MailchimpStandin(MC_KEY), SendGridStandin(SG_KEY), ActiveCampaignStandin(AC_KEY)
    )
    for standin in (found.mc, found.sg, found.ac):
        standin.start()
    try:
        yield found
    finally:
        for standin in (found.mc, found.sg, found.ac):
            standin.stop()


@contextmanager
def simulated(providers: Providers, *account_ids: uuid.UUID, **env: Any) -> Iterator[SimulatedTime]:
    """Jobs of these accounts run in this process, the adapters reaching the stand-ins."""
    with simulated_time(list(account_ids), **providers.env(), **env) as sim:
        yield sim


CONNECT: dict[str, dict[str, Any]] = {
    "mailchimp": {"credentials": {"api_key": MC_KEY}, "settings": {"list_id": "L1"}},
    "sendgrid": {"credentials": {"api_key": SG_KEY}, "settings": {"list_id": "sg-list-1"}},
    "activecampaign": {
        "credentials": {"api_key": AC_KEY, "account": "acme"},
        "settings": {"list_id": "7"},
    },
}


def connect(client: Any, tenant: Any, provider: str, **override: Any) -> dict[str, Any]:
    """Connect a provider through the API (201); override replaces top-level body fields."""
    body = {"provider": provider, **CONNECT[provider], **override}
    r = client.post("/api/v1/integrations/email", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def add_contact(
    account_id: uuid.UUID, email: str, *, consent: bool = True, **fields: Any
) -> uuid.UUID:
    """A contact captured through the contacts service (with or without marketing consent)."""
    with unit_of_work() as session:
        contact, _ = contacts.upsert_contact(
            session,
            account_id=account_id,
            email=email,
            source="test",
            marketing_consent=consent,
            **fields,
        )
        return contact.id


def logs_of(integration_id: str) -> list[IntegrationSyncLog]:
    """An integration's sync logs, oldest first."""
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(IntegrationSyncLog)
                .where(IntegrationSyncLog.integration_id == uuid.UUID(integration_id))
                .order_by(IntegrationSyncLog.started_at, IntegrationSyncLog.finished_at)
            )
        )


def job(job_id: str | uuid.UUID) -> Job:
    """A job row as it is now."""
    with unit_of_work() as session:
        found = session.get(Job, uuid.UUID(str(job_id)))
        assert found is not None
        return found
