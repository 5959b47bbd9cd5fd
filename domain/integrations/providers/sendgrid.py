"""SendGrid Marketing Campaigns: contacts upserted in batches of up to 30,000 as import jobs.

Bearer key; PUT /v3/marketing/contacts answers 202 {job_id}; the job's outcome is at GET
/v3/marketing/contacts/imports/{id}, per-contact errors in the file at its errors_url.
Rate limits come back as X-RateLimit-Limit/Remaining/Reset; a 429 carries {"errors":[…]}.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from limits.storage import Storage

from domain.integrations.providers.base import (
    Contact,
    ContactResult,
    HttpAdapter,
    ProviderList,
    json_of,
    push_in_batches,
)
from domain.shared.remote import FinalRemoteError

BATCH_SIZE = 30_000  # contacts per PUT /v3/marketing/contacts (and at most 6 MB), documented
RATE = "10/second"  # a ceiling of our own; SendGrid's real budget is read from its headers
MAX_HEADER_PAUSE = 60.0  # seconds: a longer X-RateLimit-Reset wait is the job's to take later


class SendGridProvider(HttpAdapter):
    """SendGrid contacts, added to the configured lists."""

    name = "sendgrid"
    batch_size = BATCH_SIZE

    def __init__(
        self,
        api_key: str,
        list_ids: Sequence[str] = (),
        *,
        base_url: str = "https://api.sendgrid.com",
        tags_field_id: str | None = None,
        batch_size: int = BATCH_SIZE,
        job_wait: float = 30.0,
        poll_interval: float = 1.0,
        rate_storage: Storage | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """tags_field_id: a text custom field the tags are written to (SendGrid has no tags).

        job_wait: how long an upsert waits for its import job to finish before reporting
        the contacts as accepted.
        """
        super().__init__(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            secret=api_key,
            rate=RATE,
            timeout=timeout,
            rate_storage=rate_storage,
        )
        self.list_ids = list(list_ids)
        self.tags_field_id = tags_field_id
        self.batch_size = min(batch_size, BATCH_SIZE)
        self.job_wait = job_wait
        self.poll_interval = poll_interval
        self.sleep = sleep

    def error_detail(self, response: httpx.Response) -> str:
        """{"errors":[{"field","message"}]} as one line."""
        try:
            body: Any = response.json()
        except ValueError:
            return response.text[:300]
        errors = body.get("errors") if isinstance(body, dict) else None
        if not errors:
            return response.text[:300]
        return "; ".join(
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
        )

    def observe(self, response: httpx.Response) -> None:
        """An exhausted X-RateLimit budget pauses the next call until its reset time."""
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit():
            wait = float(reset) - time.time()
            if 0 < wait <= MAX_HEADER_PAUSE:
                self.sleep(wait)

    def check_connection(self) -> None:
        """GET /v3/scopes, then each configured list."""
        self.call("GET", "/v3/scopes")
        for list_id in self.list_ids:
            self.call("GET", f"/v3/marketing/lists/{list_id}")

    def list_lists(self) -> list[ProviderList]:
        """The account's contact lists (the first 1000)."""
        body = json_of(self.call("GET", "/v3/marketing/lists", params={"page_size": 1000}))
        return [ProviderList(str(x["id"]), str(x["name"])) for x in body.get("result", [])]

    def contact(self, contact: Contact) -> dict[str, Any]:
        """A contact as SendGrid names its fields."""
        fields = dict(contact.fields)
        if self.tags_field_id and contact.tags:
            fields[self.tags_field_id] = ",".join(contact.tags)
        out: dict[str, Any] = {
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
        }
        if fields:
            out["custom_fields"] = fields
        return out

    def upsert_contacts(self, contacts: Sequence[Contact]) -> list[ContactResult]:
        """One import job per batch, each waited for (up to job_wait) for its errors."""
        return push_in_batches(contacts, self.batch_size, self._push_batch)

    def _push_batch(self, batch: Sequence[Contact]) -> list[ContactResult]:
        """PUT the batch, then read its job's per-contact errors."""
        body = json_of(
            self.call(
                "PUT",
                "/v3/marketing/contacts",
                json={"list_ids": self.list_ids, "contacts": [self.contact(c) for c in batch]},
            )
        )
        job_id = str(body["job_id"])
        job = self._wait_for_job(job_id)
        if job is None:
            note = f"accepted; import job {job_id} still running"
            return [ContactResult(c.email, "ok", note) for c in batch]
        errors = self._job_errors(job)
        if job.get("status") == "failed" and not errors:
            raise FinalRemoteError(f"sendgrid import job {job_id} failed")
        return [
            ContactResult(c.email, "failed", errors[c.email.lower()])
            if c.email.lower() in errors
            else ContactResult(c.email, "ok")
            for c in batch
        ]

    def _wait_for_job(self, job_id: str) -> dict[str, Any] | None:
        """The import job once it is no longer pending; None if still pending at job_wait."""
        deadline = time.monotonic() + self.job_wait
        while True:
            job: dict[str, Any] = json_of(
                self.call("GET", f"/v3/marketing/contacts/imports/{job_id}")
            )
            if job.get("status") != "pending":
                return job
            if time.monotonic() >= deadline:
                return None
            self.sleep(self.poll_interval)

    def _job_errors(self, job: dict[str, Any]) -> dict[str, str]:
        """Lowercased email → error from the errors file (CSV with email and error columns)."""
        results = job.get("results") or {}
        url = results.get("errors_url")
        if not results.get("errored_count") or not url:
            return {}
        if httpx.URL(url).host == self.http.base_url.host:
            text = self.call("GET", httpx.URL(url).path).text
        else:  # a download elsewhere gets no credential
            text = httpx.get(url, timeout=self.http.timeout).text
        rows = csv.DictReader(io.StringIO(text))
        return {
            str(row.get("email", "")).lower(): str(row.get("error") or "rejected") for row in rows
        }

    def add_tags(self, email: str, tags: Sequence[str]) -> None:
        """Write the tags to tags_field_id (the whole set: SendGrid keeps one value)."""
        if not self.tags_field_id:
            return
        contact = {"email": email, "custom_fields": {self.tags_field_id: ",".join(tags)}}
        self.call("PUT", "/v3/marketing/contacts", json={"contacts": [contact]})

    def contact_id(self, email: str) -> str | None:
        """SendGrid's id of an address (POST /v3/marketing/contacts/search/emails)."""
        response = self.call(
            "POST",
            "/v3/marketing/contacts/search/emails",
            json={"emails": [email]},
            missing_ok=True,
        )
        if response.status_code == 404:
            return None
        found = json_of(response).get("result", {})
        for address, entry in found.items():
            if address.lower() == email.lower() and entry.get("contact"):
                return str(entry["contact"]["id"])
        return None

    def delete_contact(self, email: str) -> bool:
        """DELETE /v3/marketing/contacts?ids=<id> (an asynchronous job at SendGrid)."""
        contact_id = self.contact_id(email)
        if contact_id is None:
            return False
        self.call("DELETE", "/v3/marketing/contacts", params={"ids": contact_id})
        return True
