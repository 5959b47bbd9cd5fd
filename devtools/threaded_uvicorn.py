"""An ASGI app served by uvicorn on a background thread of the test process (stand-ins)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class ThreadedUvicorn:
    """Serve app on host:port (0: a free one), bound here so there is no race for the port."""

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "server"
    ) -> None:
        """Nothing runs until start()."""
        self.app, self.host, self.port, self.name = app, host, port, name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def running(self) -> bool:
        """Whether start() has run and stop() has not."""
        return self._server is not None

    def start(self, *, backlog: int = 128, **config: Any) -> int:
        """Listen, serve on a daemon thread, wait until uvicorn is up; the port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(backlog)
        self._socket = sock
        self.port = sock.getsockname()[1]
        settings = {"log_level": "warning", "access_log": False, "lifespan": "off", **config}
        self._server = uvicorn.Server(uvicorn.Config(self.app, backlog=backlog, **settings))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self.port

    def stop(self) -> None:
        """Stop serving and close the socket (again: nothing)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
