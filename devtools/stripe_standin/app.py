"""The stand-in's HTTP layer: routes, API keys, Idempotency-Key, injected faults.

One request goes: parse the form → check the key → injected failure? → delay "before" →
idempotency (replay / mismatch / in flight) → delay "during" → execute in the ledger →
save the answer under the key → failure "after commit"? → delay "after" → answer.

Operations run synchronously on the server's event loop thread (they are short and
in-memory), so two requests never execute at once; a request holding its idempotency key
while it sleeps in a "during" delay is what a concurrent request with that key meets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devtools.stripe_standin.errors import ParamError, StripeError
from devtools.stripe_standin.forms import parse_form
from devtools.stripe_standin.ledger import API_VERSION, Context, Ledger, new_id

__all__ = ["FaultRule", "RequestRecord", "StripeApp"]

log = logging.getLogger(__name__)

_ID = r"(?P<id>[A-Za-z0-9_]+)"
STRIPE_JS = (Path(__file__).parent / "stripe.js").read_bytes()
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), op)
    for method, pattern, op in [
        ("POST", r"/v1/customers", "customers.create"),
        ("GET", rf"/v1/customers/{_ID}", "customers.retrieve"),
        ("POST", r"/v1/payment_intents", "payment_intents.create"),
        ("GET", r"/v1/payment_intents", "payment_intents.list"),
        ("GET", rf"/v1/payment_intents/{_ID}", "payment_intents.retrieve"),
        ("POST", rf"/v1/payment_intents/{_ID}", "payment_intents.update"),
        ("POST", rf"/v1/payment_intents/{_ID}/confirm", "payment_intents.confirm"),
        ("POST", rf"/v1/payment_intents/{_ID}/cancel", "payment_intents.cancel"),
        ("POST", r"/v1/refunds", "refunds.create"),
        ("GET", r"/v1/refunds", "refunds.list"),
        ("GET", rf"/v1/refunds/{_ID}", "refunds.retrieve"),
        ("GET", rf"/v1/charges/{_ID}", "charges.retrieve"),
        ("GET", rf"/v1/disputes/{_ID}", "disputes.retrieve"),
        ("GET", rf"/v1/payment_methods/{_ID}", "payment_methods.retrieve"),
    ]
]
# What Stripe.js may do with a publishable key (and the PaymentIntent's client_secret).
PUBLISHABLE_OPS = {"payment_intents.retrieve", "payment_intents.confirm"}
MAX_KEY_LENGTH = 255


@dataclass
class FaultRule:
    """An injected fault for the next `remaining` matching requests.

    kind "fail": answer `status` without executing anything (nothing is saved under the
    idempotency key, so the client's retry with the same key executes). kind
    "fail_after_commit": execute and save the real answer, then answer `status` (the
    answer was lost; a retry with the same key replays the saved one). kind "delay":
    sleep `seconds` before the idempotency check ("before": the request is slow on the
    network), while holding the key ("during": Stripe is slow, the work happens after the
    sleep) or after the work and saving ("after": the answer is slow).
    """

    kind: str
    remaining: int
    status: int = 500
    seconds: float = 0.0
    when: str = "during"
    method: str | None = None
    path: str | None = None
    op: str | None = None
    error_type: str = "api_error"
    code: str | None = None
    message: str | None = None
    should_retry: bool | None = None

    def matches(self, method: str, path: str, op: str | None) -> bool:
        """Whether a request is one this rule targets."""
        return (
            self.remaining > 0
            and (self.method is None or self.method.upper() == method)
            and (self.path is None or path.startswith(self.path))
            and (self.op is None or self.op == op)
        )


@dataclass(frozen=True)
class RequestRecord:
    """One request the stand-in answered."""

    method: str
    path: str
    op: str | None
    idempotency_key: str | None
    api_key: str | None
    status: int
    replayed: bool
    fault: str | None
    request_id: str
    at: float


@dataclass
class _Saved:
    fingerprint: str
    method: str
    path: str
    status: int
    body: bytes
    request_id: str


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2).encode("utf-8")


def _error(exc: StripeError) -> _Answer:
    return _Answer(exc.status, _json(exc.body()), dict(exc.headers))


def _unauthorized(message: str, *, code: str | None = None) -> _Answer:
    error = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    return _Answer(401, _json({"error": error}))


class StripeApp:
    """The ASGI app (`.asgi`) and the per-request machinery around the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        """Serve ledger; no faults, Stripe's 409 for a key in flight."""
        self.ledger = ledger
        self.lock = threading.Lock()
        self.faults: list[FaultRule] = []
        self.records: list[RequestRecord] = []
        self.saved: dict[tuple[str, str], _Saved] = {}
        self.in_flight: dict[tuple[str, str], asyncio.Event] = {}
        self.key_in_use = "conflict"  # or "wait": a same-key request waits and replays
        self.asgi = Starlette(
            routes=[
                Route("/standin/3ds/{pi_id}", self.three_d_secure, methods=["GET", "POST"]),
                Route("/v3/", self.stripe_js, methods=["GET"]),
                Route("/{path:path}", self.handle, methods=["GET", "POST", "DELETE"]),
            ]
        )

    def reset(self) -> None:
        """Forget faults, records and saved idempotent answers."""
        with self.lock:
            self.faults.clear()
            self.records.clear()
            self.saved.clear()

    def forget_idempotency_keys(self) -> None:
        """Forget every saved answer, as Stripe does with a key after 24 hours."""
        with self.lock:
            self.saved.clear()

    def add_fault(self, rule: FaultRule) -> None:
        """Inject a fault (see FaultRule)."""
        with self.lock:
            self.faults.append(rule)

    def _take(self, kind: str, method: str, path: str, op: str | None) -> FaultRule | None:
        with self.lock:
            for rule in self.faults:
                if rule.kind == kind and rule.matches(method, path, op):
                    rule.remaining -= 1
                    return rule
            return None

    # -------------------------------------------------------------------- the route

    async def handle(self, request: Request) -> Response:
        """Answer one API request as Stripe would."""
        method, path = request.method, request.url.path
        request_id = new_id("req", 14)
        key = request.headers.get("idempotency-key") if method == "POST" else None
        op: str | None = None
        object_id: str | None = None
        for route_method, pattern, route_op in ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                op, object_id = route_op, match.groupdict().get("id")
                break
        state: dict[str, Any] = {"replayed": False, "fault": None, "api_key": None}
        answer = await self._answer(request, method, path, op, object_id, key, request_id, state)
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("stripe-version", API_VERSION),
            **answer.headers,
        }
        if key:
            headers["Idempotency-Key"] = key
        with self.lock:
            self.records.append(
                RequestRecord(
                    method=method,
                    path=path,
                    op=op,
                    idempotency_key=key,
                    api_key=state["api_key"],
                    status=answer.status,
                    replayed=bool(state["replayed"]),
                    fault=state["fault"],
                    request_id=request_id,
                    at=time.time(),
                )
            )
        # Stripe's API answers browsers (Stripe.js) from any origin.
        headers["Access-Control-Allow-Origin"] = "*"
        return Response(answer.body, answer.status, headers, media_type="application/json")

    async def stripe_js(self, _request: Request) -> Response:
        """The stand-in's Stripe.js (the part our order form uses), at Stripe's /v3/ path."""
        return Response(
            STRIPE_JS,
            200,
            {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
            media_type="text/javascript",
        )

    async def _answer(
        self,
        request: Request,
        method: str,
        path: str,
        op: str | None,
        object_id: str | None,
        key: str | None,
        request_id: str,
        state: dict[str, Any],
    ) -> _Answer:
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            pairs = parse_qsl(request.url.query, keep_blank_values=True)
            if method == "POST":
                pairs += parse_qsl(body, keep_blank_values=True)
            params = parse_form(pairs)
        except ParamError as exc:
            return _error(exc)
        if op is None:
            return _error(
                StripeError(
                    404,
                    f"Unrecognized request URL ({method}: {path}). Please see "
                    "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                )
            )
        auth = self._authenticate(request, params, op)
        if isinstance(auth, _Answer):
            return auth
        api_key, publishable = auth
        state["api_key"] = api_key

        rule = self._take("fail", method, path, op)
        if rule is not None:
            state["fault"] = "fail"
            return self._fault_answer(rule)
        rule = self._take("delay", method, path, op)
        delay_when = rule.when if rule else None
        if rule is not None:
            state["fault"] = f"delay_{rule.when}"
        if rule is not None and delay_when == "before":
            await asyncio.sleep(rule.seconds)

        scope: tuple[str, str] | None = None
        fingerprint = ""
        if key is not None:
            if len(key) > MAX_KEY_LENGTH:
                return _error(
                    ParamError(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long.")
                )
            scope = (api_key, key)
            fingerprint = json.dumps([method, path, params], sort_keys=True)
            while True:
                saved = self.saved.get(scope)
                if saved is not None:
                    state["replayed"] = True
                    return self._replay(saved, fingerprint, key, method, path)
                event = self.in_flight.get(scope)
                if event is None:
                    break
                if self.key_in_use != "wait":
                    return _error(
                        StripeError(
                            409,
                            "There is currently another in-progress request using this "
                            f"Idempotent Key (that probably means you submitted twice, and the "
                            f"other request is still going through): {key}. Please try again "
                            "later.",
                            code="idempotency_key_in_use",
                            store=False,
                        )
                    )
                await event.wait()
            self.in_flight[scope] = asyncio.Event()
        try:
            if rule is not None and delay_when == "during":
                await asyncio.sleep(rule.seconds)
            ctx = Context(request_id=request_id, idempotency_key=key, publishable=publishable)
            store = True
            try:
                result = self.ledger.execute(op, object_id, params, ctx)
                answer = _Answer(200, _json(result))
            except StripeError as exc:
                answer, store = _error(exc), exc.store
            except Exception as exc:  # a bug in the stand-in: say so, save nothing
                log.exception("stripe stand-in failed on %s %s", method, path)
                answer = _Answer(
                    500,
                    _json(
                        {
                            "error": {
                                "type": "api_error",
                                "message": f"stand-in bug: {exc!r}",
                            }
                        }
                    ),
                )
                store = False
            if scope is not None and store:
                self.saved[scope] = _Saved(
                    fingerprint, method, path, answer.status, answer.body, request_id
                )
        finally:
            if scope is not None:
                self.in_flight.pop(scope).set()

        after = self._take("fail_after_commit", method, path, op)
        if after is not None:
            state["fault"] = "fail_after_commit"
            answer = self._fault_answer(after)
        if rule is not None and delay_when == "after":
            await asyncio.sleep(rule.seconds)
        return answer

    def _authenticate(
        self, request: Request, params: dict[str, Any], op: str
    ) -> tuple[str, bool] | _Answer:
        header = request.headers.get("authorization", "")
        api_key: str | None = None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            api_key = value.strip()
        elif scheme.lower() == "basic" and value.strip():
            try:
                api_key = base64.b64decode(value.strip()).decode().partition(":")[0] or None
            except ValueError:
                api_key = None
        form_key = params.pop("key", None)
        if api_key is None and isinstance(form_key, str) and form_key:
            api_key = form_key  # Stripe.js sends its publishable key as a form field
        if api_key is None:
            return _unauthorized(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY')."
            )
        if not api_key.startswith(("sk_test_", "rk_test_", "pk_test_")):
            return _unauthorized(
                f"Invalid API Key provided: {api_key[:8]}****{api_key[-4:]} (the stand-in "
                "takes test-mode keys only: sk_test_, rk_test_, pk_test_)",
                code="api_key_invalid",
            )
        publishable = api_key.startswith("pk_")
        if publishable and op not in PUBLISHABLE_OPS:
            return _unauthorized(
                "This API call cannot be made with a publishable API key. Please use a secret "
                "API key."
            )
        return api_key, publishable

    def _replay(self, saved: _Saved, fingerprint: str, key: str, method: str, path: str) -> _Answer:
        if saved.method != method or saved.path != path:
            return _error(
                StripeError(
                    400,
                    "Keys for idempotent requests can only be used for the same endpoint they were "
                    f"first used for ('{saved.method} {saved.path}' vs '{method} {path}'). Try "
                    f"using a key other than '{key}' if you meant to execute a different request.",
                    type="idempotency_error",
                    store=False,
                )
            )
        if saved.fingerprint != fingerprint:
            return _error(
                StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to "
                    "execute a different request.",
                    type="idempotency_error",
                    store=False,
                )
            )
        return _Answer(
            saved.status,
            saved.body,
            {"Idempotent-Replayed": "true", "Original-Request": saved.request_id},
        )

    @staticmethod
    def _fault_answer(rule: FaultRule) -> _Answer:
        error: dict[str, Any] = {
            "type": rule.error_type,
            "message": rule.message
            or "An unknown error occurred (injected by the Stripe stand-in).",
        }
        if rule.code:
            error["code"] = rule.code
        headers = {}
        if rule.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if rule.should_retry else "false"
        return _Answer(rule.status, _json({"error": error}), headers)

    # ------------------------------------------------- what the 3-D Secure page does

    async def three_d_secure(self, request: Request) -> Response:
        """Stand-in for the bank's 3-D Secure page: `?succeed=false` fails authentication."""
        pi_id = request.path_params["pi_id"]
        succeed = request.query_params.get("succeed", "true") != "false"
        try:
            pi = self.ledger.complete_action(pi_id, succeed=succeed)
        except (KeyError, ValueError) as exc:
            return Response(
                _json({"error": {"message": str(exc)}}), 400, media_type="application/json"
            )
        return Response(_json(pi), 200, media_type="application/json")
