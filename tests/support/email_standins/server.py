"""What the three provider stand-ins share: a thread running uvicorn on a free port, a record
of every request, shape checks that fail loudly, and injected faults (429, 500, ...)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.threaded_uvicorn import ThreadedUvicorn

Handler = Callable[[Request, Any], Response]


class ShapeError(Exception):
    """The request does not have the shape the provider documents."""


@dataclass
class Received:
    """One request as the stand-in saw it (the auth header's value is not kept)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int = 0


@dataclass
class Fault:
    """Answer the next n matching requests with status (and Retry-After), doing nothing."""

    status: int
    n: int
    method: str | None = None
    path: str | None = None  # a substring of the path
    retry_after: str | None = None
    message: str = "injected failure"
    skip: int = 0  # matching requests answered normally first (a failure mid-sync)


@dataclass
class Standin:
    """A provider's API on 127.0.0.1; subclasses add routes, auth and error shapes."""

    api_key: str
    prefix: str = ""
    host: str = "127.0.0.1"
    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Build the app; nothing listens until start()."""
        self.lock = threading.RLock()
        routes = [
            Route(self.prefix + path, self._wrap(fn), methods=[method])
            for method, path, fn in self.routes()
        ]
        routes.append(
            Route("/{rest:path}", self._unknown, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
        )
        self.app = Starlette(routes=routes)
        self._http: ThreadedUvicorn | None = None

    # ---------------------------------------------------------------- to override

    def routes(self) -> list[tuple[str, str, Handler]]:
        """(method, path, handler) triples; paths are Starlette patterns under prefix."""
        raise NotImplementedError

    def authorized(self, request: Request) -> bool:
        """Whether the request carries the right credential."""
        raise NotImplementedError

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """An error as the provider shapes it."""
        return JSONResponse({"message": message}, status, headers=headers)

    def unauthorized(self) -> Response:
        """The provider's answer to a bad credential."""
        return self.error(401, "bad credentials")

    def decorate(self, response: Response) -> Response:
        """Headers every answer carries (rate-limit headers)."""
        return response

    # ------------------------------------------------------------------- lifecycle

    def start(self) -> str:
        """Listen on a free port; return the base URL (with the API's prefix)."""
        self._http = ThreadedUvicorn(self.app, host=self.host, name=type(self).__name__)
        port = self._http.start()
        self.base_url = f"http://{self.host}:{port}{self.prefix}"
        return self.base_url

    def stop(self) -> None:
        """Stop serving; state stays readable."""
        if self._http is not None:
            self._http.stop()
        self._http = None

    # ---------------------------------------------------------------- test helpers

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: str | None = None,
        message: str = "injected failure",
        skip: int = 0,
    ) -> None:
        """The next n matching requests (after `skip` answered normally) answer status (with
        Retry-After), changing nothing."""
        with self.lock:
            self.faults.append(Fault(status, n, method, path, retry_after, message, skip))

    def reset(self) -> None:
        """Forget every request, violation, fault and object (fields back to their defaults)."""
        keep = {"api_key", "prefix", "host", "base_url"}
        with self.lock:
            for f in dataclasses.fields(self):
                if f.name in keep:
                    continue
                if f.default_factory is not dataclasses.MISSING:
                    setattr(self, f.name, f.default_factory())
                elif f.default is not dataclasses.MISSING:
                    setattr(self, f.name, f.default)

    def calls(self, method: str, path_part: str = "") -> list[Received]:
        """The requests with this method whose path contains path_part."""
        with self.lock:
            return [r for r in self.requests if r.method == method and path_part in r.path]

    def check(self, condition: bool, message: str) -> None:
        """A documented shape: a violation is recorded and answered 400."""
        if not condition:
            with self.lock:
                self.violations.append(message)
            raise ShapeError(message)

    # ------------------------------------------------------------------ machinery

    def _take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, used once."""
        for fault in self.faults:
            if (
                fault.n > 0
                and (fault.method in (None, method))
                and (fault.path is None or fault.path in path)
            ):
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.n -= 1
                return fault
        return None

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Record, inject faults, check the credential, then run the handler under the lock."""

        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            record = Received(
                request.method,
                request.url.path,
                dict(request.query_params),
                None,
                {
                    k: v
                    for k, v in request.headers.items()
                    if k not in ("authorization", "api-token")
                },
            )
            with self.lock:
                self.requests.append(record)
            response = self._answer(request, raw, record, handler)
            record.status = response.status_code
            return self.decorate(response)

        return endpoint

    def _answer(self, request: Request, raw: bytes, record: Received, handler: Handler) -> Response:
        """The response to one recorded request."""
        try:
            record.body = json.loads(raw) if raw else None
        except ValueError:
            return self.error(400, "body is not JSON")
        with self.lock:
            fault = self._take_fault(request.method, request.url.path)
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return self.error(fault.status, fault.message, headers)
        if not self.authorized(request):
            return self.unauthorized()
        try:
            with self.lock:
                return handler(request, record.body)
        except ShapeError as exc:
            return self.error(400, str(exc))

    async def _unknown(self, request: Request) -> Response:
        """An endpoint the provider does not have (or not with this method)."""
        with self.lock:
            self.violations.append(f"unknown endpoint {request.method} {request.url.path}")
        return self.error(404, "not found")
