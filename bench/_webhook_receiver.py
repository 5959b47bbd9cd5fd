"""The webhook benchmark's receiver: a bare ASGI app noting when each webhook-id arrived.

Run in a process of its own (`uvicorn bench._webhook_receiver:app`), so it never competes
with the sender for the GIL. POST answers 200 at once, except under /hang (15 s, a dead
endpoint); GET /arrivals answers {webhook-id: unix time} and forgets them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]

_arrivals: dict[str, float] = {}


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Note POSTs by webhook-id; answer GET /arrivals with what was noted."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        body = json.dumps(_arrivals).encode()
        _arrivals.clear()
    else:
        headers = dict(scope["headers"])
        if scope["path"].startswith("/hang"):
            await asyncio.sleep(15)
        _arrivals[headers.get(b"webhook-id", b"").decode()] = time.time()
        body = b""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
