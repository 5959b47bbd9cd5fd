"""Every operation of the OpenAPI document, fuzzed with every schemathesis check.

The caller is an owner whose account holds a live funnel, pages, an asset, products, a paid
order, its job and contact, and an API key: generated path ids that are well formed are
swapped for those, so the routes behind the 404 are fuzzed too. A finding fails the test
unless ALLOWED (below) names it with the reason it is not a defect.

CI runs a fixed number of examples from a fixed seed, derandomized; for a deeper run:
    FUZZ_MAX_EXAMPLES=500 ./dev test tests/integration/test_fuzz_api.py
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
# Stateful scenarios (chains of calls) and the most calls in one.
SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "30"))
STEPS = int(os.environ.get("FUZZ_STEPS", "8"))
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))


def _app() -> Any:
    """The app under test, built as production builds it."""
    # Module import happens after conftest's pytest_configure set the test servers' URLs.
    from api.main import create_app

    return create_app()


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.seed = SEED


@dataclass(frozen=True)
class Allowed:
    """A finding that is not a defect: which check, where, which answer, and why."""

    failure: str  # the schemathesis failure class name
    operation: str  # a regex matched against "METHOD /path/template"
    status: int
    code: str | None  # the error body's `code` (None: not an error)
    text: str  # a regex searched for in the answer's body and the finding's message
    reason: str

    def matches(self, failure: Any, case: Any, response: Any) -> bool:
        """Whether this entry covers a finding."""
        return (
            type(failure).__name__ == self.failure
            and re.fullmatch(self.operation, f"{case.method.upper()} {case.path}") is not None
            and response.status_code == self.status
            and _code(response) == self.code
            and re.search(self.text, f"{response.text}\n{failure.message}") is not None
        )


def _code(response: Any) -> str | None:
    """The `code` of an error body, if the answer is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


# Semantic findings: rules JSON Schema cannot state, so a request the document calls valid
# is refused. Each names the check, the operation, the status, the code and the message.
ALLOWED = [
    *(
        Allowed(
            "RejectedPositiveData",
            "POST /api/v1/analytics/track",
            422,
            code,
            "occurred_at",
            "occurred_at must lie between ANALYTICS_LATE_EVENT_DAYS ago and the future skew "
            "ahead of the server's clock: a window relative to now, which no schema states",
        )
        for code in ("occurred_at_too_old", "occurred_at_in_future")
    ),
    Allowed(
        "RejectedPositiveData",
        "POST /api/v1/analytics/track",
        422,
        "validation_error",
        "an exposure needs ab_test_id and variant_id",
        "an exposure names its split test and variant: a rule across two fields",
    ),
    Allowed(
        "AcceptedNegativeData",
        "POST /api/v1/analytics/track/batch",
        202,
        None,
        "events",
        "a batch refuses a bad event by its index and still queues the good ones (issue 12): "
        "the answer lists the refused event under `rejected`",
    ),
    Allowed(
        "UseAfterFree",
        "GET /api/v1/(products|funnels)/.+",
        200,
        None,
        "deleted with `DELETE /api/v1/(products|funnels)/[^/`]+`",
        "DELETE archives: an archived product stays readable (orders name it), an archived "
        "funnel too (it can be cloned)",
    ),
    Allowed(
        "RejectedPositiveData",
        "GET /api/v1/orders/analytics",
        422,
        "validation_error",
        "more than 366 days|before date_from",
        "the range's length relates two parameters: at most 366 days, date_from first",
    ),
    Allowed(
        "RejectedPositiveData",
        "GET /api/v1/analytics/funnels/[^/]+/(overview|steps|dropoffs)",
        422,
        "validation_error",
        "more than 366 days|to is before from",
        "the range's length relates two parameters: at most 366 days, from first",
    ),
    Allowed(
        "RejectedPositiveData",
        "POST /api/v1/orders/stripe/webhook",
        400,
        "invalid_signature",
        "signature",
        "a valid Stripe-Signature needs the endpoint's secret: no generator can make one",
    ),
    Allowed(
        "RejectedPositiveData",
        "(POST|PATCH|PUT) /api/v1/(funnels|pages)(/.*)?",
        422,
        "invalid_input",
        "no such (page|product|funnel) in this account",
        "the body names a page, product or funnel the account does not have",
    ),
    Allowed(
        "RejectedPositiveData",
        "PATCH /api/v1/funnels/[^/]+/steps/[^/]+",
        422,
        "invalid_input",
        "sells nothing|only an order_form carries bumps",
        "a PATCH without step_type is checked against the step's stored type (the schema "
        "states the rule when step_type is sent)",
    ),
    Allowed(
        "RejectedPositiveData",
        "POST /api/v1/funnels/from-template",
        422,
        "invalid_input",
        "The product map does not fit the template",
        "product_map's keys are the chosen template's offers, its values the account's products",
    ),
    Allowed(
        "RejectedPositiveData",
        "(POST|PATCH) /api/v1/pages(/.*)?",
        422,
        "funnel_not_found",
        "no funnel with this id",
        "the body names a funnel the account does not have",
    ),
    Allowed(
        "RejectedPositiveData",
        "(POST|PATCH) /api/v1/pages(/.*)?",
        422,
        "validation_error",
        "The element tree is invalid",
        "an element tree's rules (what may contain what, each type's props) live in the "
        "element library (GET /api/v1/pages/elements/library), not in the page's schema",
    ),
    Allowed(
        "RejectedPositiveData",
        "POST /api/v1/pages/[^/]+/assets",
        415,
        "unsupported_media_type",
        "judged by content",
        "a file's type is judged by its bytes; the schema can only say `binary`",
    ),
    Allowed(
        "RejectedPositiveData",
        "POST /api/v1/pages/[^/]+/assets",
        422,
        "empty_file",
        "empty",
        "an upload must have bytes; `format: binary` has no minimum length",
    ),
    Allowed(
        "RejectedPositiveData",
        "POST /api/v1/orders/[^/]+/refunds",
        422,
        "refund_exceeds_charge",
        "left to refund",
        "what is left to refund depends on the refunds made before",
    ),
    Allowed(
        "RejectedPositiveData",
        "POST /api/v1/.*",
        422,
        "idempotency_key_reused",
        "Idempotency-Key",
        "the examples reuse a generated Idempotency-Key with another body: refused by design",
    ),
    Allowed(
        "RejectedPositiveData",
        "(POST|PATCH) /api/v1/analytics/ab-tests(/[^/]+)?",
        422,
        "invalid_input",
        "no such (funnel|step|page|variant)|splits must sum to 100|at most two decimals|"
        "not published|a page of its own|declaring a winner completes|the goal must be|"
        "has no page to split",
        "the body names a funnel, step, page or variant the account or test does not have, "
        "or splits whose sum (100) relates several fields",
    ),
    Allowed(
        "RejectedPositiveData",
        "(POST|PATCH|PUT) /api/v1/.*",
        422,
        "validation_error",
        "must not contain NUL characters",
        "PostgreSQL text cannot hold NUL; free-form JSON (settings, elements) has no schema "
        "to put a pattern on",
    ),
    Allowed(
        "RejectedPositiveData",
        "(POST|PATCH) /api/v1/integrations/webhooks(/[^/]+)?",
        422,
        "unsafe_url",
        "not allowed",
        "a webhook URL's host must resolve to public addresses only (SSRF policy): what a "
        "name resolves to is not in the schema",
    ),
    Allowed(
        "RejectedPositiveData",
        "(POST|PATCH) /api/v1/integrations/webhooks(/[^/]+)?",
        422,
        "unknown_event_type",
        "Unknown event types",
        "event types come from the catalogue (GET /api/v1/events/types)",
    ),
    Allowed(
        "UseAfterFree",
        "(GET|PATCH) /api/v1/products/[^/]+",
        200,
        None,
        "archived_at",
        "DELETE /products/{id} archives the product (orders keep naming it), so it stays "
        "readable with archived_at set, as documented on the route",
    ),
    Allowed(
        "ServerError",
        "GET /api/v1/integrations/[^/]+/lists",
        502,
        "provider_error",
        "network error",
        "the lists are the provider's answer, and here no provider answers (tests point their "
        "addresses at a closed port): 502 says so, as documented",
    ),
    Allowed(
        "RejectedPositiveData",
        "POST /api/v1/integrations/webhooks/[^/]+/recover",
        422,
        "invalid_input",
        "out of bounds",
        "the range relates two fields and the clock: at most 14 days back, until after since",
    ),
]


@schema.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every finding the allow-list does not name."""
    return not any(entry.matches(failure, case, response) for entry in ALLOWED)


PLACEHOLDER = "Bearer <owner>"


@schema.auth()
class OwnerToken:
    """Every generated request is the owner's, except those testing a missing token.

    Cases are partly made while pytest collects, before any fixture: they carry a
    placeholder that Owned.substitute swaps for the owner's token.
    """

    def get(self, case: Any, context: Any) -> str:  # noqa: ARG002 - the provider protocol
        """The placeholder."""
        return PLACEHOLDER

    def set(self, case: Any, data: str, context: Any) -> None:  # noqa: ARG002
        """Send it as the Authorization header."""
        case.headers = {**(case.headers or {}), "Authorization": data}


@dataclass(frozen=True)
class Owned:
    """The fuzzing owner's token and the ids of what the account holds."""

    authorization: str
    ids: dict[str, str]  # path parameter name -> an id of the account
    versions: dict[str, int]  # path prefix -> a published version

    def authorize(self, case: Any) -> None:
        """The owner's token for the placeholder (a case testing no token has none)."""
        if (case.headers or {}).get("Authorization") == PLACEHOLDER:
            case.headers["Authorization"] = self.authorization

    def fill_nulls(self, case: Any) -> None:
        """Authorize; a path id a link took from a null field becomes the account's own."""
        self.authorize(case)
        for name, value in (case.path_parameters or {}).items():
            if value is None and name in self.ids:
                case.path_parameters[name] = self.ids[name]

    def substitute(self, case: Any) -> None:
        """Authorize; swap well-formed generated path ids for the account's own."""
        self.authorize(case)
        for name, value in (case.path_parameters or {}).items():
            if name == "version":
                if isinstance(value, int) and value >= 1:
                    prefix = case.path.split("/")[3]
                    case.path_parameters[name] = self.versions[prefix]
            elif name in self.ids and _is_uuid(value):
                case.path_parameters[name] = self.ids[name]


def _is_uuid(value: Any) -> bool:
    """A canonical uuid string (what the `uuid` format allows)."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _split_test(client: Any, headers: dict[str, str], live: dict[str, Any]) -> Any:
    """A draft split test of the live funnel's opt-in step between two published pages."""
    from tests.support.funnels import ok, page

    pages = [page(client, headers, f"Variant {n}") for n in (1, 2)]
    for page_id in pages:
        ok(client.post(f"/api/v1/pages/{page_id}/publish", headers=headers))
    body = {
        "name": "Fuzz split",
        "funnel_id": live["funnel"]["id"],
        "step_id": live["steps"]["optin"]["id"],
        "variants": [{"page_id": p, "percent": 50} for p in pages],
    }
    return ok(client.post("/api/v1/analytics/ab-tests", json=body, headers=headers), 201)


@pytest.fixture(scope="module")
def owned(stripe_server: Any) -> Iterator[Owned]:
    """An owner with a live funnel, a paid order and the rest, built through the API."""
    from fastapi.testclient import TestClient

    from domain.orders.stripe_gateway import gateway
    from domain.shared.settings import get_settings
    from tests.support.files import png
    from tests.support.funnels import ok
    from tests.support.orders import offer_funnel, paid_order

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRIPE_API_BASE", stripe_server.base_url)
        patch.setenv("STRIPE_WEBHOOK_SECRET", stripe_server.webhook_secret)
        get_settings.cache_clear()
        gateway.cache_clear()
        with TestClient(APP) as client:
            registered = ok(
                client.post(
                    "/api/v1/auth/register",
                    json={
                        "email": f"fuzz-{uuid.uuid4().hex[:8]}@example.com",
                        "password": "fuzzing password",
                        "account_name": "Fuzz",
                    },
                ),
                201,
            )
            headers = {"Authorization": f"Bearer {registered['access_token']}"}
            live = offer_funnel(client, headers)
            order = paid_order(client, headers, live, stripe_server)
            detail = ok(client.get(f"/api/v1/orders/{order['id']}", headers=headers))
            step = live["steps"]["order_form"]
            page = ok(client.post(f"/api/v1/pages/{step['page_id']}/publish", headers=headers))
            asset = ok(
                client.post(
                    f"/api/v1/pages/{page['id']}/assets",
                    files={"file": ("pixel.png", png(), "image/png")},
                    headers=headers,
                ),
                201,
            )
            key = ok(client.post("/api/v1/api-keys", json={"name": "fuzz"}, headers=headers), 201)
            split = _split_test(client, headers, live)
        yield Owned(
            authorization=headers["Authorization"],
            ids={
                "funnel_id": live["funnel"]["id"],
                "step_id": step["id"],
                "page_id": page["id"],
                "asset_id": asset["id"],
                "product_id": step["product_id"],
                "order_id": order["id"],
                "job_id": order["job_id"],
                "contact_id": detail["contact_id"],
                "api_key_id": key["id"],
                "test_id": split["id"],
            },
            versions={
                "funnels": live["funnel"]["published_version"],
                "pages": page["published_version"],
            },
        )
    get_settings.cache_clear()
    gateway.cache_clear()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same examples every run: CI failures reproduce
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # report the example found; shrinking costs minutes
    database=None,
)
def test_api_conforms_to_its_document(case: Any, owned: Owned) -> None:
    # Every check schemathesis has (status codes, response schemas, headers, negative and
    # positive data, missing headers, unsupported methods, ignored auth, ...) as the owner.
    owned.substitute(case)
    case.call_and_validate()


def _register(client: Any) -> str:
    """A new owner's Authorization header value."""
    from tests.support.funnels import ok

    body = {
        "email": f"fuzz-{uuid.uuid4().hex[:12]}@example.com",
        "password": "fuzzing password",
        "account_name": "Fuzz",
    }
    return f"Bearer {ok(client.post('/api/v1/auth/register', json=body), 201)['access_token']}"


def test_call_sequences_conform_to_the_document(owned: Owned) -> None:
    """Chains of calls (create, then read, change, delete what was created), linked by
    schemathesis from the document: the same checks, plus the stateful ones
    (use_after_free, ensure_resource_availability) that compare calls of one chain.

    Each chain runs in an account of its own, so what one chain made (a slug, an order)
    never changes what another gets: Hypothesis replays a chain and needs the same answers.
    """
    from fastapi.testclient import TestClient

    with TestClient(APP) as client:

        class Scenario(schema.as_state_machine()):  # type: ignore[misc]
            def setup(self) -> None:
                """A fresh owner for each chain."""
                self.owner = replace(owned, authorization=_register(client))

            def before_call(self, case: Any) -> None:
                """The chain's owner's token; null ids a link extracted filled in."""
                self.owner.fill_nulls(case)

        Scenario.run(
            settings=settings(
                max_examples=SCENARIOS,
                stateful_step_count=STEPS,
                derandomize=True,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
                database=None,
            )
        )
