"""Mailchimp Marketing API v3: members of one audience, upserted in batches of 500.

Key `…-<dc>`; base https://<dc>.api.mailchimp.com/3.0; Basic auth with any user name and
the key as password. Errors come as application/problem+json ({title, status, detail}).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import httpx
from limits.storage import Storage

from domain.integrations.providers.base import (
    Contact,
    ContactOutcome,
    ContactResult,
    HttpAdapter,
    ProviderList,
    is_auth_failure,
    json_of,
    push_in_batches,
    tagged,
)
from domain.shared.remote import FinalRemoteError, RemoteError

BATCH_SIZE = 500  # members per POST /lists/{list_id}, Mailchimp's documented maximum
# Mailchimp limits concurrent connections (about 10 per key), not requests per second; an
# adapter sends one request at a time, and this pace keeps a runaway loop polite.
RATE = "10/second"
EXISTS = "ERROR_CONTACT_EXISTS"  # a batch member already in the audience


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lowercased address (an id, not security)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def datacenter(api_key: str) -> str:
    """The `<dc>` suffix of a key (`…-us6`); a key without one is refused clearly."""
    _, _, dc = api_key.rpartition("-")
    if not _ or not dc.isalnum():
        raise FinalRemoteError("mailchimp: the API key must end in -<datacenter>, like …-us6")
    return dc


class MailchimpProvider(HttpAdapter):
    """One Mailchimp audience, reached with one API key."""

    name = "mailchimp"
    batch_size = BATCH_SIZE

    def __init__(
        self,
        api_key: str,
        list_id: str,
        *,
        base_url: str | None = None,
        status_if_new: str = "subscribed",
        batch_size: int = BATCH_SIZE,
        rate_storage: Storage | None = None,
        timeout: float = 10.0,
    ) -> None:
        """base_url: default https://<dc>.api.mailchimp.com/3.0 from the key (tests override)."""
        url = base_url or f"https://{datacenter(api_key)}.api.mailchimp.com/3.0"
        super().__init__(
            base_url=url,
            headers={"Accept": "application/json"},
            secret=api_key,
            rate=RATE,
            auth=httpx.BasicAuth("funnels", api_key),
            timeout=timeout,
            rate_storage=rate_storage,
        )
        self.list_id = list_id
        self.status_if_new = status_if_new
        self.batch_size = min(batch_size, BATCH_SIZE)

    def error_detail(self, response: httpx.Response) -> str:
        """problem+json: title and detail, and the fields it names."""
        try:
            body: Any = response.json()
        except ValueError:
            return response.text[:300]
        if not isinstance(body, dict):
            return response.text[:300]
        parts = [str(body.get("title") or ""), str(body.get("detail") or "")]
        parts += [f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or []]
        return " — ".join(p for p in parts if p)

    def check_connection(self) -> None:
        """GET /ping ("Everything's Chimpy!"), then the audience itself."""
        self.call("GET", "/ping")
        self.call("GET", f"/lists/{self.list_id}", params={"fields": "id,name"})

    def list_lists(self) -> list[ProviderList]:
        """The account's audiences (the first 1000)."""
        body = json_of(
            self.call("GET", "/lists", params={"count": 1000, "fields": "lists.id,lists.name"})
        )
        return [ProviderList(str(x["id"]), str(x["name"])) for x in body.get("lists", [])]

    def member(self, contact: Contact) -> dict[str, Any]:
        """A contact as a member: address, status for a new member, merge fields."""
        merge = {"FNAME": contact.first_name, "LNAME": contact.last_name, **contact.fields}
        return {
            "email_address": contact.email,
            "status_if_new": self.status_if_new,
            "merge_fields": merge,
        }

    def upsert_contacts(self, contacts: Sequence[Contact]) -> list[ContactResult]:
        """Batches of ≤ 500 through POST /lists/{list_id}; then each tagged member's tags."""
        return push_in_batches(contacts, self.batch_size, self._push_batch)

    def upsert_one(self, contact: Contact) -> ContactResult:
        """PUT /lists/{list_id}/members/{hash}: one member, status only if new."""
        body = json_of(
            self.call(
                "PUT",
                f"/lists/{self.list_id}/members/{subscriber_hash(contact.email)}",
                json=self.member(contact),
            )
        )
        return tagged(contact, str(body.get("id")), self.add_tags)

    def _push_batch(self, batch: Sequence[Contact]) -> list[ContactResult]:
        """One batch call adding new members; members already there are updated one by one.

        The batch endpoint requires `status`, and with update_existing it would apply it to
        members already there (re-subscribing someone who unsubscribed at Mailchimp), so it
        only adds: Mailchimp refuses the known ones (ERROR_CONTACT_EXISTS), and those get
        `upsert_one`, whose `status_if_new` never changes an existing member's status.
        """
        members = [{**self.member(c), "status": self.status_if_new} for c in batch]
        body = json_of(
            self.call(
                "POST",
                f"/lists/{self.list_id}",
                json={"members": members, "update_existing": False},
            )
        )
        errors = {str(e.get("email_address", "")).lower(): e for e in body.get("errors", [])}
        ids = {
            str(m.get("email_address", "")).lower(): str(m.get("id"))
            for m in body.get("new_members", [])
        }
        return [self._result(contact, errors, ids) for contact in batch]

    def _result(
        self, contact: Contact, errors: dict[str, Any], ids: dict[str, str]
    ) -> ContactResult:
        """A batch member's outcome: added (then tagged), known (updated alone), or refused."""
        error = errors.get(contact.email.lower())
        if error is None:
            return tagged(contact, ids.get(contact.email.lower()), self.add_tags)
        if error.get("error_code") == EXISTS:
            try:
                return self.upsert_one(contact)
            except RemoteError as failure:
                if is_auth_failure(failure):
                    raise
                outcome: ContactOutcome = "retry" if failure.retryable else "failed"
                return ContactResult(
                    contact.email, outcome, str(failure), retry_after=failure.retry_after
                )
        return ContactResult(
            contact.email, "failed", str(error.get("error") or error.get("error_code"))
        )

    def add_tags(self, email: str, tags: Sequence[str]) -> None:
        """POST …/members/{hash}/tags with each tag active (204)."""
        self.call(
            "POST",
            f"/lists/{self.list_id}/members/{subscriber_hash(email)}/tags",
            json={"tags": [{"name": t, "status": "active"} for t in tags]},
        )

    def delete_contact(self, email: str) -> bool:
        """POST …/actions/delete-permanent: erased for good (a DELETE only archives)."""
        response = self.call(
            "POST",
            f"/lists/{self.list_id}/members/{subscriber_hash(email)}/actions/delete-permanent",
            missing_ok=True,
        )
        return response.status_code != 404
