"""Pure ASGI middleware: a request body size cap and the rate-limit headers."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import response_for
from api.ratelimit import SCOPE_KEY


class BodySizeLimit:
    """Refuse bodies over max_bytes with 413, declared or streamed, before any route runs.

    overrides: (path regex, limit) pairs for routes that take bigger bodies (uploads); the
    first whose regex matches the whole path wins.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, overrides: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = [(re.compile(pattern), limit) for pattern, limit in overrides]

    def limit_for(self, path: str) -> int:
        """The body limit of a request path."""
        for pattern, limit in self.overrides:
            if pattern.fullmatch(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await _too_large(send, max_bytes)
            return
        received = 0
        answered = False

        async def limited_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes and not answered:
                    # Answer now; whatever the app makes of the error below is dropped.
                    answered = True
                    await _too_large(send, max_bytes)
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, max_bytes: int) -> None:
    body = json.dumps(
        {"error": f"Request body larger than {max_bytes} bytes", "code": "payload_too_large"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimitHeaders:
    """Copy the X-RateLimit-* figures a route's limiter recorded onto its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            headers = scope.get(SCOPE_KEY)
            if message["type"] == "http.response.start" and headers:
                existing = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.lower().encode(), v.encode())
                    for k, v in headers.items()
                    if k.lower().encode() not in existing
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class OpenTracking:
    """CORS for any origin on the tracking routes only: pages on any domain send events.

    A JSON or bearer request gets its preflight answered; a `text/plain` POST (what
    navigator.sendBeacon sends for a string) needs none, and the routes read its JSON. No
    cookies are involved, so `*`.
    """

    def __init__(self, app: ASGIApp, paths: Sequence[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["POST"],
            allow_headers=["Content-Type", "Authorization", "X-Publishable-Key"],
            expose_headers=[
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


Handler = Callable[[Request], Awaitable[Response]]


class FastLane:
    """POSTs to the given paths go straight to their route function, past the router.

    For the tracking routes, whose whole job is a few microseconds of checks and a queue
    append: routing, dependency solving and the exception middleware cost more than that.
    The function is the documented route's own (it reads the raw request), errors get the
    app's one error body (api/errors.py) and the rate-limit headers are added as everywhere;
    sits inside BodySizeLimit and the tracking CORS. Other methods go the usual way.
    """

    def __init__(self, app: ASGIApp, routes: Mapping[str, Handler]) -> None:
        self.app = app
        self.routes = dict(routes)
        self.lane = RateLimitHeaders(self._handle)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.routes:
            await self.lane(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.routes[scope["path"]](request)
        except Exception as exc:  # the app's handlers decide, as they would behind the router
            response = await response_for(request, exc)
        await response(scope, receive, send)
