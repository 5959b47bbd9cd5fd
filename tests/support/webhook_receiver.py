"""A tiny HTTP(S) receiver on 127.0.0.1 that counts the TCP connections it accepts."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the server answers and what reached it (connections counted at accept)."""

    status: int = 200
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # extra answer headers
    delay: float = 0.0  # seconds to wait before answering (a slow receiver)
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def start(self, tls: ssl.SSLContext | None = None, port: int = 0) -> Receiver:
        """Listen on 127.0.0.1 (on a free port unless given), serving from a daemon thread."""
        receiver = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # concurrent senders must not overflow the backlog

            def get_request(self) -> tuple[socket.socket, Any]:
                """Count every accepted connection, before any byte is read."""
                sock, addr = self.socket.accept()
                receiver.connections += 1
                if tls is not None:
                    sock = tls.wrap_socket(sock, server_side=True)
                return sock, addr

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                """Record the request, answer the configured status."""
                length = int(self.headers.get("Content-Length") or 0)
                receiver.requests.append(
                    Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment, misc]
        self._server = Server(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
