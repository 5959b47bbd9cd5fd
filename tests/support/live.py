"""Real HTTP servers inside the test process: the app under uvicorn, and a stub site.

The stub site stands in for third parties a rendered page loads (Stripe.js, video embeds),
so browser tests never reach the internet and every request they make can be checked.
"""

from __future__ import annotations

import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn

from devtools.embedded import free_port

# Harmless: defines Stripe() so a page's own checkout code would find it, and does nothing.
STUB_STRIPE_JS = b"""window.Stripe = function (key) {
  var element = { mount: function () {}, on: function () {}, destroy: function () {} };
  return {
    elements: function () { return { create: function () { return element; } }; },
    confirmCardPayment: function () { return Promise.resolve({}); }
  };
};
window.__stubStripeLoaded = true;
"""
STUB_VIDEO_HTML = (
    b"<!doctype html><html><head><meta charset=utf-8><title>Stub video</title></head>"
    b'<body style="margin:0;background:#222;color:#eee;font:16px sans-serif">'
    b"<p>stub video player</p></body></html>"
)


class LiveApp:
    """An ASGI app served by uvicorn on a free port, in a thread of this process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-app", daemon=True)

    def start(self, timeout: float = 20) -> None:
        """Serve, and return once the socket accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Finish in-flight requests and stop."""
        self.server.should_exit = True
        self.thread.join(timeout=15)


class _StubHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/stripe.js":
            self._answer(STUB_STRIPE_JS, "application/javascript")
        elif path.startswith(("/youtube/", "/vimeo/")):
            self._answer(STUB_VIDEO_HTML, "text/html; charset=utf-8")
        else:
            self._answer(b"not found", "text/plain", HTTPStatus.NOT_FOUND)
        self.server.seen.append(path)  # type: ignore[attr-defined]

    def _answer(self, body: bytes, content_type: str, status: int = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows what matters


class StubSite:
    """Stripe.js at /stripe.js, video embeds under /youtube/ and /vimeo/; records each path."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _StubHandler)
        self.httpd.seen = []  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def seen(self) -> list[str]:
        """The paths requested so far."""
        return self.httpd.seen  # type: ignore[attr-defined, no-any-return]

    def start(self) -> None:
        """Serve in a thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
