"""ActiveCampaign API v3: one contact per POST /contact/sync, then its list and tags.

Api-Token header; base https://<account>.api-us1.com/api/3; about 5 requests per second
per account; a 429 carries Retry-After. Errors: {"errors":[{title, detail}]} or {"message"}.
"""

from __future__ import annotations

from collections.abc import Sequence
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

BATCH_SIZE = 1  # /contact/sync takes one contact
RATE = "5/second"  # ActiveCampaign's documented limit per account


class ActiveCampaignProvider(HttpAdapter):
    """ActiveCampaign contacts, subscribed to one list, tagged."""

    name = "activecampaign"
    batch_size = BATCH_SIZE

    def __init__(
        self,
        api_token: str,
        account: str | None = None,
        *,
        list_id: str | None = None,
        base_url: str | None = None,
        rate_storage: Storage | None = None,
        timeout: float = 10.0,
    ) -> None:
        """account: the `<account>` of <account>.api-us1.com; base_url overrides it."""
        if base_url is None and not account:
            raise FinalRemoteError("activecampaign: the account name is required")
        super().__init__(
            base_url=base_url or f"https://{account}.api-us1.com/api/3",
            headers={"Api-Token": api_token, "Accept": "application/json"},
            secret=api_token,
            rate=RATE,
            timeout=timeout,
            rate_storage=rate_storage,
        )
        self.list_id = list_id
        self._tag_ids: dict[str, str] = {}

    def error_detail(self, response: httpx.Response) -> str:
        """The errors' titles and details, or the message."""
        try:
            body: Any = response.json()
        except ValueError:
            return response.text[:300]
        if not isinstance(body, dict):
            return response.text[:300]
        if body.get("errors"):
            return "; ".join(
                " ".join(str(e.get(k)) for k in ("title", "detail") if e.get(k))
                for e in body["errors"]
            )
        return str(body.get("message") or response.text[:300])

    def check_connection(self) -> None:
        """GET /users/me, then the configured list."""
        self.call("GET", "/users/me")
        if self.list_id:
            self.call("GET", f"/lists/{self.list_id}")

    def list_lists(self) -> list[ProviderList]:
        """The account's lists (the first 100)."""
        body = json_of(self.call("GET", "/lists", params={"limit": 100}))
        return [ProviderList(str(x["id"]), str(x["name"])) for x in body.get("lists", [])]

    def upsert_contacts(self, contacts: Sequence[Contact]) -> list[ContactResult]:
        """Each contact synced, subscribed to the list and tagged, paced to 5 requests/s."""
        return push_in_batches(contacts, BATCH_SIZE, self._push_one)

    def _push_one(self, batch: Sequence[Contact]) -> list[ContactResult]:
        """POST /contact/sync, POST /contactLists unless a member already, then the tags."""
        (contact,) = batch
        body = json_of(
            self.call(
                "POST",
                "/contact/sync",
                json={
                    "contact": {
                        "email": contact.email,
                        "firstName": contact.first_name,
                        "lastName": contact.last_name,
                        "fieldValues": [
                            {"field": k, "value": v} for k, v in contact.fields.items()
                        ],
                    }
                },
            )
        )
        contact_id = str(body["contact"]["id"])
        if self.list_id and not self._on_list(contact_id):
            self.call(
                "POST",
                "/contactLists",
                json={"contactList": {"list": self.list_id, "contact": contact_id, "status": 1}},
            )
        for tag in contact.tags:
            self._tag(contact_id, tag)
        return [ContactResult(contact.email, "ok", provider_id=contact_id)]

    def _on_list(self, contact_id: str) -> bool:
        """Whether the contact has a membership of the list, active or unsubscribed.

        Posting status 1 again would re-subscribe someone who unsubscribed: never done.
        """
        body = json_of(self.call("GET", f"/contacts/{contact_id}/contactLists"))
        return any(str(m.get("list")) == self.list_id for m in body.get("contactLists", []))

    def tag_id(self, name: str) -> str:
        """The id of a tag by exact name (GET /tags?search=), created if missing."""
        if name in self._tag_ids:
            return self._tag_ids[name]
        found = json_of(self.call("GET", "/tags", params={"search": name}))
        ids = [str(t["id"]) for t in found.get("tags", []) if t.get("tag") == name]
        if ids:
            tag_id = ids[0]
        else:
            created = json_of(
                self.call("POST", "/tags", json={"tag": {"tag": name, "tagType": "contact"}})
            )
            tag_id = str(created["tag"]["id"])
        self._tag_ids[name] = tag_id
        return tag_id

    def _tag(self, contact_id: str, name: str) -> None:
        """POST /contactTags (tagging twice is harmless at ActiveCampaign)."""
        self.call(
            "POST",
            "/contactTags",
            json={"contactTag": {"contact": contact_id, "tag": self.tag_id(name)}},
        )

    def contact_id(self, email: str) -> str | None:
        """ActiveCampaign's id of an address (GET /contacts?email=)."""
        body = json_of(self.call("GET", "/contacts", params={"email": email}))
        found = body.get("contacts", [])
        return str(found[0]["id"]) if found else None

    def add_tags(self, email: str, tags: Sequence[str]) -> None:
        """Tag an existing contact; an unknown address is a final error."""
        contact_id = self.contact_id(email)
        if contact_id is None:
            raise FinalRemoteError("activecampaign: no contact with that address", status=404)
        for tag in tags:
            self._tag(contact_id, tag)

    def delete_contact(self, email: str) -> bool:
        """DELETE /contacts/{id}."""
        contact_id = self.contact_id(email)
        if contact_id is None:
            return False
        response = self.call("DELETE", f"/contacts/{contact_id}", missing_ok=True)
        return response.status_code != 404
