"""The integrations' job bodies: test a connection, push contacts, erase a person.

A sync run pushes consenting contacts whose current version the integration has not seen,
records each contact's outcome and one sync log, and commits all of it with the job (the
task wrapper's transaction). Contacts a provider could not take now (429, 5xx) are left
unrecorded: the job looks again after the integrations retry schedule's next wait (or the
provider's Retry-After, if longer) and pushes exactly those, so nothing is pushed twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.contacts import service as contacts
from domain.contacts.models import Contact as ContactRow
from domain.integrations import clients, crypto
from domain.integrations import repository as repo
from domain.integrations.models import Integration, IntegrationSyncLog, SyncStatus
from domain.integrations.providers import Contact, ContactResult
from domain.jobs import schedules
from domain.jobs.models import Job
from domain.shared.db import utcnow
from domain.shared.locks import try_xact_lock
from domain.shared.remote import NotYet

MAX_CONTACTS_PER_RUN = 5000  # a longer backlog continues in the same job right after
PAGE = 1000
# A contact written by a transaction that committed after a sync read past its updated_at
# is still found by the next sync: it starts this long before the last one did.
LATE_COMMIT_MARGIN = timedelta(minutes=10)
CONTINUE_NOW = 1.0  # seconds before a run continues a long backlog


def _id(job: Job) -> uuid.UUID:
    return uuid.UUID(job.arguments["integration_id"])


def _integration(session: Session, job: Job) -> Integration | None:
    """The job's integration, if it is still connected (and the job's account's)."""
    return repo.get(session, job.account_id, _id(job))


# ----------------------------------------------------------------------------- test


def run_test(session: Session, job: Job) -> dict[str, Any]:
    """Check the credentials and the list; mark the integration connected (failures: on_failure)."""
    integration = _integration(session, job)
    if integration is None:
        return {"skipped": "integration disconnected"}
    with clients.connected(integration) as provider:
        provider.check_connection()
    integration.status = "connected"
    integration.status_reason = None
    integration.last_tested_at = utcnow()
    return {"status": "connected"}


def mark_failed(session: Session, job: Job) -> None:
    """A test or sync failed for good: the integration says why (the job's error)."""
    integration = _integration(session, job)
    if integration is None:
        return
    integration.status = "failed"
    integration.status_reason = job.error
    if job.task.endswith(".test"):
        integration.last_tested_at = utcnow()
    else:
        _write_log(session, job, integration, Run(started_at=utcnow()), "failed", job.error)


# ----------------------------------------------------------------------------- sync


@dataclass
class Run:
    """What one run found and did."""

    started_at: datetime
    candidates: list[ContactRow] = field(default_factory=list)
    exhausted: bool = True  # every candidate was looked at (no backlog left)
    pushed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    retry: list[ContactResult] = field(default_factory=list)


def run_sync(session: Session, job: Job) -> dict[str, Any]:
    """Push what changed (or the job's named contacts); one sync log per run."""
    integration = _integration(session, job)
    if integration is None or not integration.enabled:
        state = "disconnected" if integration is None else "disabled"
        return {"skipped": f"integration {state}"}
    if not try_xact_lock(session, "integrations.sync", str(integration.id)):
        raise NotYet("another sync of this integration is running")
    run = Run(started_at=utcnow())
    _find_candidates(session, job, integration, run)
    if run.candidates:
        _push(session, integration, run)
    return _finish(session, job, integration, run)


def _find_candidates(session: Session, job: Job, integration: Integration, run: Run) -> None:
    """Consenting contacts whose current version the integration has not seen, in order."""
    named = job.arguments.get("contact_ids")
    if named is not None:
        rows = contacts.consenting_by_ids(
            session, account_id=job.account_id, contact_ids=[uuid.UUID(c) for c in named]
        )
        run.candidates = _unseen(session, integration, rows)
        return
    since = integration.synced_through - LATE_COMMIT_MARGIN if integration.synced_through else None
    after: tuple[datetime, uuid.UUID] | None = None
    while len(run.candidates) < MAX_CONTACTS_PER_RUN:
        rows = contacts.consenting_changed(
            session, account_id=job.account_id, since=since, after=after, limit=PAGE
        )
        run.candidates += _unseen(session, integration, rows)
        if len(rows) < PAGE:
            return
        after = (rows[-1].updated_at, rows[-1].id)
    run.candidates = run.candidates[:MAX_CONTACTS_PER_RUN]
    run.exhausted = False


def _unseen(
    session: Session, integration: Integration, rows: Sequence[ContactRow]
) -> list[ContactRow]:
    """The rows whose current version was not pushed (or refused) yet."""
    seen = repo.synced_versions(session, integration.id, [r.id for r in rows])
    return [r for r in rows if r.id not in seen or seen[r.id] < r.updated_at]


def to_provider(contact: ContactRow, settings: dict[str, Any]) -> Contact:
    """A contact as pushed: names, the mapped fields, the integration's tags."""
    fields: dict[str, str] = {}
    for mapped in settings.get("field_mapping") or ():
        provider_field, source = mapped["field"], mapped["source"]
        if source.startswith("attributes."):
            value = (contact.attributes or {}).get(source.removeprefix("attributes."))
        else:
            value = getattr(contact, source)
        if value is not None and value != "":
            fields[provider_field] = str(value)
    return Contact(
        email=contact.email,
        first_name=contact.first_name or "",
        last_name=contact.last_name or "",
        fields=fields,
        tags=tuple(settings.get("tags") or ()),
    )


def _push(session: Session, integration: Integration, run: Run) -> None:
    """Push the candidates in the provider's batches; record what it took or refused."""
    by_email = {c.email.lower(): c for c in run.candidates}
    with clients.connected(integration) as provider:
        results = provider.upsert_contacts(
            [to_provider(c, integration.settings) for c in run.candidates]
        )
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for result in results:
        contact = by_email[result.email.lower()]
        if result.outcome == "retry":
            run.retry.append(result)
            continue
        error = None
        if result.outcome == "failed":
            error = _without_address(result.message or "refused", contact.email)
            run.failed.append({"contact_id": str(contact.id), "error": error})
        else:
            run.pushed += 1
        rows.append(
            {
                "integration_id": integration.id,
                "contact_id": contact.id,
                "account_id": integration.account_id,
                "synced_version": contact.updated_at,
                "status": "pushed" if error is None else "failed",
                "error": error,
                "pushed_at": now,
            }
        )
    repo.record_contacts(session, rows)


def _without_address(message: str, email: str) -> str:
    """A provider's message with the person's address taken out (logs outlive erasures)."""
    return re.sub(re.escape(email), "<contact>", message, flags=re.IGNORECASE)[:1000]


def _finish(session: Session, job: Job, integration: Integration, run: Run) -> dict[str, Any]:
    """Write the log; wait for a retry, continue a backlog, or mark the sync done."""
    counts = {"candidates": len(run.candidates), "pushed": run.pushed, "failed": len(run.failed)}
    if run.retry:
        delay = _retry_delay(session, job, run)
        reason = _without_address(
            run.retry[0].message or "provider unavailable", run.retry[0].email
        )
        if delay is not None:
            note = f"{len(run.retry)} contacts left for a retry in {delay:.0f} s: {reason}"
            _write_log(session, job, integration, run, "partial", note)
            raise NotYet(note, delay_seconds=delay)
        note = f"gave up for now on {len(run.retry)} contacts (the next sync retries): {reason}"
        _write_log(session, job, integration, run, "partial", note)
        return {**counts, "left_for_retry": len(run.retry), "status": "partial"}
    _write_log(session, job, integration, run, "succeeded", None)
    if not run.exhausted:
        raise NotYet("more contacts to push", delay_seconds=CONTINUE_NOW)
    integration.status = "connected"
    integration.status_reason = None
    integration.last_synced_at = utcnow()
    if "contact_ids" not in job.arguments:
        integration.synced_through = run.started_at
    return {**counts, "status": "succeeded"}


def _retry_delay(session: Session, job: Job, run: Run) -> float | None:
    """The integrations schedule's next wait for this job (or Retry-After, if longer)."""
    earlier = session.scalar(
        select(func.count())
        .select_from(IntegrationSyncLog)
        .where(IntegrationSyncLog.job_id == job.id, IntegrationSyncLog.left_for_retry > 0)
    )
    delay = schedules.retry_delay("integrations", int(earlier or 0) + 1)
    if delay is None:
        return None
    retry_after = max((r.retry_after or 0.0) for r in run.retry)
    return max(delay, retry_after)


def _write_log(
    session: Session,
    job: Job,
    integration: Integration,
    run: Run,
    status: SyncStatus,
    message: str | None,
) -> None:
    """One sync log for this run."""
    session.add(
        IntegrationSyncLog(
            id=uuid.uuid4(),
            account_id=integration.account_id,
            integration_id=integration.id,
            job_id=job.id,
            trigger=job.arguments.get("trigger", "manual"),
            status=status,
            started_at=run.started_at,
            finished_at=utcnow(),
            candidates=len(run.candidates),
            pushed=run.pushed,
            failed=len(run.failed),
            left_for_retry=len(run.retry),
            errors=run.failed,
            message=message,
        )
    )
    session.flush()


# ---------------------------------------------------------------------------- erase


def run_erase(session: Session, job: Job) -> dict[str, Any]:
    """Delete the person at the provider; the address leaves the job's arguments."""
    token = job.arguments.get("email_token")
    integration = _integration(session, job)
    if token is None or integration is None:
        _drop_address(job)
        return {"skipped": "integration disconnected" if token else "done already"}
    with clients.connected(integration) as provider:
        found = provider.delete_contact(crypto.decrypt_text(token))
    _drop_address(job)
    return {"deleted": found, "provider": integration.provider}


def _drop_address(job: Job) -> None:
    """The encrypted address is needed no more."""
    job.arguments = {k: v for k, v in job.arguments.items() if k != "email_token"}
