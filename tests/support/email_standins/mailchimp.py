"""A local Mailchimp Marketing API v3 (the members part), checking the documented shapes."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.email_standins.server import Handler, Standin

STATUSES = {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BATCH_MAX = 500


def md5_lower(email: str) -> str:
    """Mailchimp's subscriber hash."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


@dataclass
class MailchimpStandin(Standin):
    """Audiences with members; Basic auth with the key as password; problem+json errors."""

    prefix: str = "/3.0"
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)  # member writes per address
    deleted: list[str] = field(default_factory=list)  # addresses deleted permanently

    def add_list(self, list_id: str, name: str) -> None:
        """An audience the account has."""
        with self.lock:
            self.lists[list_id] = {"id": list_id, "name": name, "members": {}}

    def member(self, list_id: str, email: str) -> dict[str, Any] | None:
        """A member as stored (None if absent)."""
        with self.lock:
            found = self.lists[list_id]["members"].get(md5_lower(email))
            return dict(found) if found else None

    def routes(self) -> list[tuple[str, str, Handler]]:
        """The endpoints the adapter uses."""
        m = "/lists/{list_id}/members/{hash}"
        return [
            ("GET", "/ping", self.ping),
            ("GET", "/lists", self.get_lists),
            ("GET", "/lists/{list_id}", self.get_list),
            ("POST", "/lists/{list_id}", self.batch),
            ("PUT", m, self.put_member),
            ("DELETE", m, self.archive_member),
            ("POST", m + "/tags", self.tags),
            ("POST", m + "/actions/delete-permanent", self.delete_permanent),
        ]

    def authorized(self, request: Request) -> bool:
        """Basic auth, any user name, the key as password."""
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            _, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return password == self.api_key

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """application/problem+json, as Mailchimp answers errors."""
        titles = {
            400: "Invalid Resource",
            401: "API Key Invalid",
            404: "Resource Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
        }
        body = {
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": titles.get(status, "Error"),
            "status": status,
            "detail": message,
            "instance": "standin",
        }
        return JSONResponse(body, status, headers=headers, media_type="application/problem+json")

    def unauthorized(self) -> Response:
        """Mailchimp's 401 for a wrong key."""
        return self.error(
            401, "Your API key may be invalid, or you've attempted to access the wrong datacenter."
        )

    # -------------------------------------------------------------------- handlers

    def _list(self, request: Request) -> dict[str, Any] | None:
        """The audience in the path."""
        return self.lists.get(request.path_params["list_id"])

    def ping(self, _request: Request, _body: Any) -> Response:
        """Health check."""
        return JSONResponse({"health_status": "Everything's Chimpy!"})

    def get_lists(self, _request: Request, _body: Any) -> Response:
        """Audiences (id and name)."""
        lists = [{"id": x["id"], "name": x["name"]} for x in self.lists.values()]
        return JSONResponse({"lists": lists, "total_items": len(lists)})

    def get_list(self, request: Request, _body: Any) -> Response:
        """One audience."""
        found = self._list(request)
        if found is None:
            return self.error(404, "The requested resource could not be found.")
        return JSONResponse({"id": found["id"], "name": found["name"]})

    def _check_member(self, m: Any, *, batch: bool) -> None:
        """A member body: address, status (if new), merge fields."""
        self.check(isinstance(m, dict), "a member must be an object")
        self.check(isinstance(m.get("email_address"), str), "email_address is required")
        if batch:
            self.check(m.get("status") in STATUSES, "status is required in a batch member")
        status = m.get("status_if_new", m.get("status"))
        self.check(status in STATUSES, "status_if_new must be one of " + ", ".join(STATUSES))
        merge = m.get("merge_fields", {})
        self.check(
            isinstance(merge, dict) and all(isinstance(v, str) for v in merge.values()),
            "merge_fields must map merge tags to strings",
        )

    def _write(
        self, list_: dict[str, Any], m: dict[str, Any], *, update: bool
    ) -> tuple[dict[str, Any], bool]:
        """Create or update a member; (member, created)."""
        email = m["email_address"]
        key = md5_lower(email)
        members = list_["members"]
        created = key not in members
        if created:
            members[key] = {
                "id": key,
                "email_address": email,
                "status": m.get("status_if_new", m.get("status")),
                "merge_fields": {},
                "tags": [],
            }
        elif update and "status" in m:
            members[key]["status"] = m["status"]
        members[key]["merge_fields"].update(m.get("merge_fields", {}))
        self.writes[email.lower()] += 1
        return members[key], created

    def batch(self, request: Request, body: Any) -> Response:
        """Batch subscribe: ≤ 500 members, refused ones in `errors` of a 200."""
        list_ = self._list(request)
        if list_ is None:
            return self.error(404, "The requested resource could not be found.")
        self.check(isinstance(body, dict), "body must be an object")
        members = body.get("members")
        self.check(isinstance(members, list) and members, "members must be a non-empty array")
        self.check(len(members) <= BATCH_MAX, f"at most {BATCH_MAX} members per batch")
        for m in members:
            self._check_member(m, batch=True)
        new, updated, errors = [], [], []
        for m in members:
            if not EMAIL.match(m["email_address"]):
                errors.append(
                    {
                        "email_address": m["email_address"],
                        "error": f"{m['email_address']} looks fake or invalid, please enter a "
                        "real email address.",
                        "error_code": "ERROR_GENERIC",
                    }
                )
                continue
            if (
                not body.get("update_existing")
                and md5_lower(m["email_address"]) in list_["members"]
            ):
                errors.append(
                    {
                        "email_address": m["email_address"],
                        "error": f"{m['email_address']} is already a list member",
                        "error_code": "ERROR_CONTACT_EXISTS",
                    }
                )
                continue
            stored, created = self._write(list_, m, update=bool(body.get("update_existing")))
            (new if created else updated).append(dict(stored))
        return JSONResponse(
            {
                "new_members": new,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(new),
                "total_updated": len(updated),
                "error_count": len(errors),
            }
        )

    def put_member(self, request: Request, body: Any) -> Response:
        """Add or update one member; the path's hash must be md5(lowercase address)."""
        list_ = self._list(request)
        if list_ is None:
            return self.error(404, "The requested resource could not be found.")
        self._check_member(body, batch=False)
        self.check(
            request.path_params["hash"] == md5_lower(body["email_address"]),
            "the subscriber hash must be the MD5 of the lowercase email address",
        )
        if not EMAIL.match(body["email_address"]):
            return self.error(400, "Please provide a valid email address.")
        stored, _ = self._write(list_, body, update=False)
        return JSONResponse(dict(stored))

    def _member_at(self, request: Request) -> dict[str, Any] | None:
        """The member the path names."""
        list_ = self._list(request)
        if list_ is None:
            return None
        found: dict[str, Any] | None = list_["members"].get(request.path_params["hash"])
        return found

    def tags(self, request: Request, body: Any) -> Response:
        """Add (active) or remove (inactive) tags: 204."""
        member = self._member_at(request)
        if member is None:
            return self.error(404, "The requested resource could not be found.")
        self.check(isinstance(body, dict) and isinstance(body.get("tags"), list), "tags array")
        for tag in body["tags"]:
            self.check(
                isinstance(tag.get("name"), str) and tag.get("status") in ("active", "inactive"),
                "each tag needs a name and a status of active or inactive",
            )
            if tag["status"] == "active" and tag["name"] not in member["tags"]:
                member["tags"].append(tag["name"])
            if tag["status"] == "inactive" and tag["name"] in member["tags"]:
                member["tags"].remove(tag["name"])
        return Response(status_code=204)

    def archive_member(self, request: Request, _body: Any) -> Response:
        """Archive (the member stays, archived): 204."""
        member = self._member_at(request)
        if member is None:
            return self.error(404, "The requested resource could not be found.")
        member["status"] = "archived"
        return Response(status_code=204)

    def delete_permanent(self, request: Request, _body: Any) -> Response:
        """Erase the member for good: 204."""
        list_ = self._list(request)
        member = self._member_at(request)
        if list_ is None or member is None:
            return self.error(404, "The requested resource could not be found.")
        del list_["members"][member["id"]]
        self.deleted.append(member["email_address"])
        return Response(status_code=204)
