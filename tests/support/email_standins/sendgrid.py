"""A local SendGrid Marketing Campaigns contacts API, checking the documented shapes."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.email_standins.server import Handler, Standin

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BATCH_MAX = 30_000
BODY_MAX = 6 * 1024 * 1024
CONTACT_KEYS = {
    "email",
    "first_name",
    "last_name",
    "custom_fields",
    "address_line_1",
    "address_line_2",
    "city",
    "country",
    "postal_code",
    "state_province_region",
    "phone_number",
    "external_id",
}


@dataclass
class SendGridStandin(Standin):
    """Contacts and lists; Bearer auth; 202 + import jobs; X-RateLimit-* on every answer."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by lowercase email
    lists: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_errors: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    pending_polls: int = 1  # how many status reads a job stays `pending`
    writes: Counter[str] = field(default_factory=Counter)
    deleted: list[str] = field(default_factory=list)
    rate_limit: int = 600

    def add_list(self, list_id: str, name: str) -> None:
        """A contact list the account has."""
        with self.lock:
            self.lists[list_id] = name

    def contact(self, email: str) -> dict[str, Any] | None:
        """A contact as stored."""
        with self.lock:
            found = self.contacts.get(email.lower())
            return dict(found) if found else None

    def routes(self) -> list[tuple[str, str, Handler]]:
        """The endpoints the adapter uses (the errors file before the job route)."""
        return [
            ("GET", "/v3/scopes", self.scopes),
            ("GET", "/v3/marketing/lists", self.get_lists),
            ("GET", "/v3/marketing/lists/{list_id}", self.get_list),
            ("PUT", "/v3/marketing/contacts", self.put_contacts),
            ("DELETE", "/v3/marketing/contacts", self.delete_contacts),
            ("POST", "/v3/marketing/contacts/search/emails", self.search_emails),
            ("GET", "/v3/marketing/contacts/imports/errors/{job_id}", self.errors_file),
            ("GET", "/v3/marketing/contacts/imports/{job_id}", self.job),
        ]

    def authorized(self, request: Request) -> bool:
        """Authorization: Bearer <key>."""
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """{"errors":[{"field","message"}]}."""
        return JSONResponse(
            {"errors": [{"field": None, "message": message}]}, status, headers=headers
        )

    def unauthorized(self) -> Response:
        """SendGrid's 401."""
        return self.error(401, "The provided authorization grant is invalid, expired, or revoked")

    def decorate(self, response: Response) -> Response:
        """X-RateLimit-Limit/Remaining/Reset, as SendGrid sends them."""
        with self.lock:
            used = len(self.requests)
        response.headers["X-RateLimit-Limit"] = str(self.rate_limit)
        response.headers["X-RateLimit-Remaining"] = str(max(0, self.rate_limit - used))
        response.headers["X-RateLimit-Reset"] = str(int(time.time()) + 60)
        return response

    # -------------------------------------------------------------------- handlers

    def scopes(self, _request: Request, _body: Any) -> Response:
        """The key's scopes."""
        return JSONResponse({"scopes": ["marketing.read", "marketing.write"]})

    def get_lists(self, _request: Request, _body: Any) -> Response:
        """Lists, paged (one page here)."""
        result = [{"id": k, "name": v, "contact_count": 0} for k, v in self.lists.items()]
        return JSONResponse({"result": result, "_metadata": {"count": len(result)}})

    def get_list(self, request: Request, _body: Any) -> Response:
        """One list."""
        list_id = request.path_params["list_id"]
        if list_id not in self.lists:
            return self.error(404, "list ID does not exist")
        return JSONResponse({"id": list_id, "name": self.lists[list_id]})

    def _check_contacts(self, _request: Request, body: Any) -> None:
        """The documented body: list_ids (existing), 1..30000 contacts with an email."""
        self.check(isinstance(body, dict), "body must be an object")
        self.check(len(json.dumps(body).encode()) <= BODY_MAX, "request body larger than 6 MB")
        list_ids = body.get("list_ids", [])
        self.check(
            isinstance(list_ids, list) and all(i in self.lists for i in list_ids),
            "list_ids must name existing lists",
        )
        contacts = body.get("contacts")
        self.check(isinstance(contacts, list) and contacts, "contacts must be a non-empty array")
        self.check(len(contacts) <= BATCH_MAX, f"at most {BATCH_MAX} contacts per request")
        for i, c in enumerate(contacts):
            self.check(
                isinstance(c, dict) and isinstance(c.get("email"), str),
                f"contacts[{i}].email is required",
            )
            self.check(set(c) <= CONTACT_KEYS, f"contacts[{i}] has unknown fields")
            self.check(
                isinstance(c.get("custom_fields", {}), dict),
                f"contacts[{i}].custom_fields must be an object",
            )

    def put_contacts(self, request: Request, body: Any) -> Response:
        """Upsert as a job: 202 {job_id}; invalid addresses end up in the job's errors file."""
        self._check_contacts(request, body)
        job_id = str(uuid.uuid4())
        errors: list[tuple[str, str]] = []
        for c in body["contacts"]:
            if not EMAIL.match(c["email"]):
                errors.append((c["email"], "email is invalid"))
                continue
            stored = self.contacts.setdefault(
                c["email"].lower(),
                {"id": str(uuid.uuid4()), "email": c["email"], "list_ids": [], "custom_fields": {}},
            )
            for key in ("first_name", "last_name"):
                if key in c:
                    stored[key] = c[key]
            stored["custom_fields"].update(c.get("custom_fields", {}))
            stored["list_ids"] = sorted(set(stored["list_ids"]) | set(body.get("list_ids", [])))
            self.writes[c["email"].lower()] += 1
        n = len(body["contacts"])
        self.jobs[job_id] = {
            "id": job_id,
            "job_type": "upsert",
            "polls": 0,
            "results": {
                "requested_count": n,
                "created_count": n - len(errors),
                "updated_count": 0,
                "deleted_count": 0,
                "errored_count": len(errors),
            },
        }
        self.job_errors[job_id] = errors
        return JSONResponse({"job_id": job_id}, 202)

    def job(self, request: Request, _body: Any) -> Response:
        """Import status: pending for pending_polls reads, then completed/errored/failed."""
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return self.error(404, "job not found")
        job["polls"] += 1
        results = dict(job["results"])
        if job["polls"] <= self.pending_polls:
            status = "pending"
        elif not results["errored_count"]:
            status = "completed"
        else:
            status = (
                "failed" if results["errored_count"] == results["requested_count"] else "errored"
            )
            results["errors_url"] = (
                f"{self.base_url}/v3/marketing/contacts/imports/errors/{job['id']}"
            )
        return JSONResponse(
            {"id": job["id"], "status": status, "job_type": job["job_type"], "results": results}
        )

    def errors_file(self, request: Request, _body: Any) -> Response:
        """The errors file of a job (CSV: email, error)."""
        rows = self.job_errors.get(request.path_params["job_id"])
        if rows is None:
            return self.error(404, "job not found")
        text = "email,error\n" + "".join(f"{e},{m}\n" for e, m in rows)
        return Response(text, media_type="text/csv")

    def search_emails(self, _request: Request, body: Any) -> Response:
        """Contacts by address: 200 with the found ones, 404 if none."""
        self.check(isinstance(body, dict) and isinstance(body.get("emails"), list), "emails")
        found = {
            e: {"contact": dict(self.contacts[e.lower()])}
            for e in body["emails"]
            if e.lower() in self.contacts
        }
        if not found:
            return self.error(404, "No contacts found")
        return JSONResponse({"result": found})

    def delete_contacts(self, request: Request, _body: Any) -> Response:
        """DELETE ?ids=a,b: 202 {job_id}."""
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        self.check(
            bool(ids) or request.query_params.get("delete_all_contacts") == "true",
            "ids or delete_all_contacts is required",
        )
        for email, c in list(self.contacts.items()):
            if c["id"] in ids:
                del self.contacts[email]
                self.deleted.append(c["email"])
        return JSONResponse({"job_id": str(uuid.uuid4())}, 202)
