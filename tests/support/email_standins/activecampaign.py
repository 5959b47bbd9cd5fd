"""A local ActiveCampaign API v3 (contacts, lists, tags), checking the documented shapes."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.email_standins.server import Handler, Standin

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class ActiveCampaignStandin(Standin):
    """Contacts, lists, tags; Api-Token header; 403 on a bad token; 422 {"errors":[…]}."""

    prefix: str = "/api/3"
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id
    lists: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # id → name
    contact_tags: set[tuple[str, str]] = field(default_factory=set)
    contact_lists: dict[tuple[str, str], int] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)
    deleted: list[str] = field(default_factory=list)
    next_id: int = 1

    def add_list(self, list_id: str, name: str) -> None:
        """A list the account has."""
        with self.lock:
            self.lists[list_id] = name

    def by_email(self, email: str) -> dict[str, Any] | None:
        """A contact as stored."""
        with self.lock:
            for c in self.contacts.values():
                if c["email"].lower() == email.lower():
                    return dict(c)
            return None

    def tags_of(self, email: str) -> set[str]:
        """The names of a contact's tags."""
        found = self.by_email(email)
        with self.lock:
            return {self.tags[t] for c, t in self.contact_tags if found and c == found["id"]}

    def _id(self) -> str:
        """A fresh numeric id, as a string (as ActiveCampaign returns them)."""
        self.next_id += 1
        return str(self.next_id)

    def routes(self) -> list[tuple[str, str, Handler]]:
        """The endpoints the adapter uses."""
        return [
            ("GET", "/users/me", self.me),
            ("GET", "/lists", self.get_lists),
            ("GET", "/lists/{list_id}", self.get_list),
            ("POST", "/contact/sync", self.sync),
            ("GET", "/contacts", self.find_contacts),
            ("DELETE", "/contacts/{contact_id}", self.delete_contact),
            ("GET", "/tags", self.search_tags),
            ("POST", "/tags", self.create_tag),
            ("POST", "/contactTags", self.contact_tag),
            ("POST", "/contactLists", self.contact_list),
            ("GET", "/contacts/{contact_id}/contactLists", self.lists_of_contact),
        ]

    def authorized(self, request: Request) -> bool:
        """The Api-Token header."""
        return request.headers.get("api-token") == self.api_key

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """{"errors":[{"title","detail"}]} (a 403 is {"message"})."""
        if status == 403:
            return JSONResponse({"message": message}, status, headers=headers)
        return JSONResponse(
            {"errors": [{"title": message, "detail": "", "code": str(status)}]},
            status,
            headers=headers,
        )

    def unauthorized(self) -> Response:
        """ActiveCampaign answers a bad token with 403."""
        return self.error(403, "No Result found for Subscriber with id 0")

    def me(self, _request: Request, _body: Any) -> Response:
        """The key's user."""
        return JSONResponse({"user": {"id": "1", "username": "admin"}})

    def get_lists(self, _request: Request, _body: Any) -> Response:
        """Lists."""
        lists = [{"id": k, "name": v} for k, v in self.lists.items()]
        return JSONResponse({"lists": lists, "meta": {"total": str(len(lists))}})

    def get_list(self, request: Request, _body: Any) -> Response:
        """One list."""
        list_id = request.path_params["list_id"]
        if list_id not in self.lists:
            return self.error(404, "No Result found for List with id " + list_id)
        return JSONResponse({"list": {"id": list_id, "name": self.lists[list_id]}})

    def sync(self, _request: Request, body: Any) -> Response:
        """Create or update by address: 201 created / 200 updated {"contact"}."""
        self.check(
            isinstance(body, dict) and isinstance(body.get("contact"), dict),
            'body must be {"contact": {...}}',
        )
        c = body["contact"]
        self.check(isinstance(c.get("email"), str), "contact.email is required")
        self.check(
            set(c) <= {"email", "firstName", "lastName", "phone", "fieldValues"},
            "contact has unknown fields",
        )
        values = c.get("fieldValues", [])
        self.check(
            isinstance(values, list)
            and all(isinstance(v, dict) and {"field", "value"} <= set(v) for v in values),
            "fieldValues must be [{field, value}]",
        )
        if not EMAIL.match(c["email"]):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "title": "Contact Email Address is not valid.",
                            "detail": "",
                            "code": "email_invalid",
                            "source": {"pointer": "/data/attributes/email"},
                        }
                    ]
                },
                422,
            )
        existing = self.by_email(c["email"])
        stored = self.contacts[existing["id"]] if existing else None
        if stored is None:
            stored = {"id": self._id(), "email": c["email"], "fieldValues": {}}
            self.contacts[stored["id"]] = stored
        for key in ("firstName", "lastName"):
            if key in c:
                stored[key] = c[key]
        stored["fieldValues"].update({str(v["field"]): v["value"] for v in values})
        self.writes[c["email"].lower()] += 1
        return JSONResponse({"contact": dict(stored)}, 200 if existing else 201)

    def find_contacts(self, request: Request, _body: Any) -> Response:
        """Contacts filtered by ?email=."""
        email = request.query_params.get("email")
        found = [
            dict(c)
            for c in self.contacts.values()
            if email is None or c["email"].lower() == email.lower()
        ]
        return JSONResponse({"contacts": found, "meta": {"total": str(len(found))}})

    def delete_contact(self, request: Request, _body: Any) -> Response:
        """DELETE /contacts/{id}: 200 {} or 404."""
        found = self.contacts.pop(request.path_params["contact_id"], None)
        if found is None:
            return self.error(404, "No Result found for Subscriber")
        self.deleted.append(found["email"])
        self.contact_tags = {(c, t) for c, t in self.contact_tags if c != found["id"]}
        return JSONResponse({})

    def search_tags(self, request: Request, _body: Any) -> Response:
        """Tags whose name contains ?search=."""
        term = request.query_params.get("search", "")
        found = [
            {"id": k, "tag": v, "tagType": "contact"}
            for k, v in self.tags.items()
            if term.lower() in v.lower()
        ]
        return JSONResponse({"tags": found, "meta": {"total": str(len(found))}})

    def create_tag(self, _request: Request, body: Any) -> Response:
        """POST /tags {"tag":{"tag","tagType"}}: 201."""
        self.check(
            isinstance(body, dict)
            and isinstance(body.get("tag"), dict)
            and isinstance(body["tag"].get("tag"), str),
            'body must be {"tag":{"tag"}}',
        )
        self.check(body["tag"].get("tagType") in ("contact", "template"), "tagType")
        tag_id = self._id()
        self.tags[tag_id] = body["tag"]["tag"]
        return JSONResponse({"tag": {"id": tag_id, "tag": self.tags[tag_id]}}, 201)

    def contact_tag(self, _request: Request, body: Any) -> Response:
        """POST /contactTags {"contactTag":{"contact","tag"}}: 201."""
        self.check(
            isinstance(body, dict) and isinstance(body.get("contactTag"), dict),
            'body must be {"contactTag":{...}}',
        )
        ct = body["contactTag"]
        contact, tag = str(ct.get("contact")), str(ct.get("tag"))
        if contact not in self.contacts or tag not in self.tags:
            return self.error(422, "contact or tag does not exist")
        self.contact_tags.add((contact, tag))
        return JSONResponse({"contactTag": {"contact": contact, "tag": tag, "id": self._id()}}, 201)

    def contact_list(self, _request: Request, body: Any) -> Response:
        """POST /contactLists {"contactList":{"list","contact","status"}}."""
        self.check(
            isinstance(body, dict) and isinstance(body.get("contactList"), dict),
            'body must be {"contactList":{...}}',
        )
        cl = body["contactList"]
        list_id, contact = str(cl.get("list")), str(cl.get("contact"))
        self.check(cl.get("status") in (1, 2, "1", "2"), "status must be 1 or 2")
        if list_id not in self.lists or contact not in self.contacts:
            return self.error(422, "list or contact does not exist")
        self.contact_lists[(list_id, contact)] = int(cl["status"])
        return JSONResponse({"contactList": {"list": list_id, "contact": contact}}, 201)

    def lists_of_contact(self, request: Request, _body: Any) -> Response:
        """GET /contacts/{id}/contactLists: the contact's memberships (status 1 active, 2
        unsubscribed)."""
        contact = request.path_params["contact_id"]
        if contact not in self.contacts:
            return self.error(404, "No Result found for Subscriber with id " + contact)
        found = [
            {"list": list_id, "contact": c, "status": str(status)}
            for (list_id, c), status in self.contact_lists.items()
            if c == contact
        ]
        return JSONResponse({"contactLists": found})
