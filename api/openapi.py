"""The OpenAPI document: every status each operation can answer, with the one error body.

Statuses are inferred, so a route added later is documented without boilerplate:

- from the document itself: a path parameter adds 404 (no such object in the caller's
  account) and 422; any parameter or body adds 422; a body adds 400 (unreadable) and 413;
  an `If-Match` header or a body `version` field adds 409 `version_conflict`; an
  `Idempotency-Key` header adds 409 (first request still running) and 422 (key reused
  with another body);
- from what the route depends on: a dependency marked with `answers(...)` (the caller's
  credentials and rate limits in api/deps.py) adds its statuses; any security scheme adds 401.

What only the route knows (a 409 on a state, a 503 from Stripe, a 202's Location) it declares
with `responses=`; every 4xx/5xx, declared or inferred, gets the error body's schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict, Field

F = TypeVar("F", bound=Callable[..., Any])

COMPONENTS = "#/components/schemas/"
ERROR_REF = {"$ref": f"{COMPONENTS}Error"}
RATE_LIMITED_REF = {"$ref": f"{COMPONENTS}RateLimitedError"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ErrorOut(BaseModel):
    """The one error body of every failure."""

    model_config = ConfigDict(title="Error")

    error: str = Field(description="a human-readable message")
    code: str = Field(description="a stable snake_case code, e.g. `validation_error`")
    details: list[dict[str, Any]] = Field(
        default_factory=list,
        description="one entry per problem; validation errors give `loc`, `msg` and `type`",
    )


class RateLimitedOut(ErrorOut):
    """Over a rate limit: how long to wait."""

    model_config = ConfigDict(title="RateLimitedError")

    retry_after: int = Field(ge=1, description="seconds until the window resets")


def _int_header(description: str, *, required: bool = False) -> dict[str, Any]:
    """A response header holding an integer."""
    return {"description": description, "required": required, "schema": {"type": "integer"}}


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": _int_header("requests allowed in the tightest window"),
    "X-RateLimit-Remaining": _int_header("requests left in that window"),
    "X-RateLimit-Reset": _int_header("when that window resets, Unix seconds"),
}
ACCEPTED_WITH_JOB: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: the work runs in a worker; poll the resource or the job",
        "headers": {
            "Location": {
                "description": "the job doing the work: /api/v1/jobs/{job_id}",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    }
}
"""`responses=` of a route answering 202 with the job's Location."""

# The generic reason for each status; a route's own description of a status wins.
REASONS: dict[int, str] = {
    400: "The body could not be read as its content type (`bad_request`)",
    401: "Missing, invalid or expired credentials (`not_authenticated`, `invalid_token`, ...)",
    403: "These credentials may not do this",
    404: "No such object in the caller's account (another account's object is a 404 too)",
    409: "Conflicts with the current state",
    413: "The request body is too large (`payload_too_large`)",
    415: "Unsupported media type",
    422: "Invalid input: `validation_error` with one detail per bad field, or a business rule",
    429: "Rate limit exceeded (`rate_limited`): wait `retry_after` seconds",
    502: "A provider refused a request we built",
    503: "A service this needs is unavailable; try again later",
}

_answers: dict[Callable[..., Any], dict[int, str]] = {}


def answers(*statuses: int, **reasons: str) -> Callable[[F], F]:
    """Mark a dependency: every route depending on it can answer these statuses.

    `reasons` may describe one, keyed `s401=...`; otherwise the generic reason is used.
    """

    def mark(func: F) -> F:
        """Record the statuses; the dependency itself is unchanged."""
        _answers[func] = {
            status: reasons.get(f"s{status}", REASONS.get(status, "")) for status in statuses
        }
        return func

    return mark


def install(app: FastAPI) -> None:
    """Make app.openapi() document every status (routes included later are covered too)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, completed once and cached like FastAPI's own."""
        if app.openapi_schema is None:
            document = generate()
            complete(document, dependency_statuses(app))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def dependency_statuses(app: FastAPI) -> dict[tuple[str, str], dict[int, str]]:
    """(path, method) → the statuses its dependencies can answer, with their reasons."""
    found: dict[tuple[str, str], dict[int, str]] = {}
    for route in _api_routes(app):
        statuses: dict[int, str] = {}
        for dependant in _walk(route.dependant):
            call = dependant.call
            if isinstance(call, SecurityBase):
                statuses.setdefault(401, REASONS[401])
            else:
                for status, reason in _marked(call).items():
                    statuses.setdefault(status, reason)
        for method in route.methods or ():
            found[(route.path_format, method.lower())] = statuses
    return found


def _marked(call: Any) -> dict[int, str]:
    """The statuses `answers` recorded for a dependency (none for an unhashable callable)."""
    try:
        return _answers.get(call, {})
    except TypeError:
        return {}


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route in the document, as its effective route (included routers too)."""
    # FastAPI 0.16x keeps included routers whole; older versions copy their routes.
    iterate = getattr(routing, "iter_route_contexts", None)
    for route in iterate(app.routes) if iterate is not None else app.routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and getattr(route, "include_in_schema", False):
            yield route


def _walk(dependant: Dependant | None) -> Iterator[Dependant]:
    """A dependency tree, depth first."""
    stack = [dependant] if dependant is not None else []
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.dependencies)


def complete(document: dict[str, Any], from_dependencies: dict[tuple[str, str], Any]) -> None:
    """Add every status each operation can answer, and the error schemas, to the document."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorOut, RateLimitedOut):
        schema = model.model_json_schema(ref_template=COMPONENTS + "{model}")
        schemas[schema["title"]] = schema
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            statuses = {s: [r] for s, r in from_dependencies.get((path, method), {}).items()}
            for status, clauses in _inferred(operation, schemas).items():
                statuses.setdefault(status, []).extend(clauses)
            _document(operation, statuses)
            _no_null_parameters(operation)
    # FastAPI's own 422 shape is never answered: the one error body replaced it.
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"{COMPONENTS}{unused}"' not in json.dumps(document):
            schemas.pop(unused, None)


def _inferred(operation: dict[str, Any], schemas: dict[str, Any]) -> dict[int, list[str]]:
    """The statuses an operation's parameters and body imply, each with its specific causes."""
    statuses: dict[int, list[str]] = {}
    params = operation.get("parameters", [])
    headers = {p["name"].lower() for p in params if p["in"] == "header"}
    body = _body_schema(operation, schemas)
    if any(p["in"] == "path" for p in params):
        statuses[404] = []
    if params or "requestBody" in operation:
        statuses[422] = []
    if "requestBody" in operation:
        statuses[400] = []
        statuses[413] = []
    if "if-match" in headers or "version" in body.get("properties", {}):
        statuses.setdefault(409, []).append(
            "the version named (body `version` or If-Match) is stale: `version_conflict`"
        )
    if "idempotency-key" in headers:
        statuses.setdefault(409, []).append(
            "a request with this Idempotency-Key is still running: `idempotency_key_in_progress`"
        )
        statuses[422].append(
            "the Idempotency-Key was used with another body: `idempotency_key_reused`"
        )
    return statuses


def _no_null_parameters(operation: dict[str, Any]) -> None:
    """A parameter is left out, never sent as null: drop pydantic's `null` branch of Optional."""
    for param in operation.get("parameters", []):
        schema = param.get("schema", {})
        options = schema.get("anyOf")
        if not options:
            continue
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) < len(options):
            del schema["anyOf"]
            if len(kept) == 1:
                schema.update(kept[0])
            else:
                schema["anyOf"] = kept


def _body_schema(operation: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """The JSON request body's schema, its $ref resolved (empty without a JSON body)."""
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref.startswith(COMPONENTS):
        return dict(schemas.get(ref.removeprefix(COMPONENTS), {}))
    return dict(schema)


def _document(operation: dict[str, Any], statuses: dict[int, list[str]]) -> None:
    """Merge the inferred statuses into an operation's responses; errors get the error body."""
    responses = operation.setdefault("responses", {})
    if responses.get("422", {}).get("description") == "Validation Error":
        del responses["422"]  # FastAPI's default, in a shape this API never answers
    for status, causes in sorted(statuses.items()):
        response = responses.setdefault(str(status), {})
        own = response.get("description")
        if not own or own == _phrase(status):
            own = REASONS.get(status, own or _phrase(status))
        extra = [cause for cause in dict.fromkeys(causes) if cause and cause not in own]
        response["description"] = "; ".join([own, *extra])
    operation["responses"] = responses = dict(sorted(responses.items()))
    for key, response in responses.items():
        if not key.isdigit() or int(key) < 400:
            continue
        status = int(key)
        if not response.get("description") or response["description"] == _phrase(status):
            response["description"] = REASONS.get(status, _phrase(status))
        # Errors are JSON whatever the route's own media type (an HTML preview's 404 too).
        ref = RATE_LIMITED_REF if status == 429 else ERROR_REF
        response["content"] = {"application/json": {"schema": copy.deepcopy(ref)}}
        if status == 429:
            response["headers"] = {
                "Retry-After": _int_header("seconds to wait", required=True),
                **RATE_LIMIT_HEADERS,
            }


def _phrase(status: int) -> str:
    """The standard reason phrase FastAPI writes as a default description."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
