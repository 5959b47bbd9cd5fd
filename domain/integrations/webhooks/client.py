"""An httpx client that only connects to addresses the SSRF policy allowed.

httpcore calls its network backend's `connect_tcp` with the host name from the URL. Ours
resolves that name once, checks every address (`ssrf.resolve_checked`) and opens the socket
to a checked address itself, so there is no second lookup for a rebinding DNS server to
answer differently. The URL is untouched, so the Host header, TLS SNI and the certificate
check still use the original host name, and the connection pool stays keyed by it.
"""

from __future__ import annotations

import functools
import ssl
import typing

import anyio
import httpcore
import httpx

from domain.integrations.webhooks.ssrf import Resolver, UnsafeURL, resolve_checked
from domain.shared.settings import get_settings

TIMEOUT_SECONDS = 15.0


class BlockedConnection(httpcore.ConnectError):
    """The connect-time check refused the host; httpx raises it as httpx.ConnectError."""


def _checked_addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver | None
) -> list[str]:
    """The policy-checked addresses of host, or BlockedConnection (one lookup)."""
    try:
        return resolve_checked(host, port, allow_private=allow_private, resolver=resolver)
    except UnsafeURL as exc:
        raise BlockedConnection(exc.reason) from None


class GuardedBackend(httpcore.NetworkBackend):
    """A sync network backend that resolves, checks, then dials the checked address."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None = None,
        dialer: httpcore.NetworkBackend | None = None,
    ) -> None:
        """Keep the policy and resolver; sockets come from dialer (httpcore's SyncBackend)."""
        self._allow_private = allow_private
        self._resolver = resolver
        self._backend = dialer or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Open a TCP connection to the first checked address of host that answers."""
        addresses = _checked_addresses(
            host, port, allow_private=self._allow_private, resolver=self._resolver
        )
        error: Exception | None = None
        for address in addresses:
            try:
                return self._backend.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # try the next address, like socket.create_connection does
        assert error is not None  # resolve_checked never returns an empty list
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Never: a webhook goes over TCP."""
        del timeout, socket_options  # part of httpcore's interface, nothing to use them for
        raise BlockedConnection(f"the unix socket {path} is not a webhook destination")

    def sleep(self, seconds: float) -> None:
        """Delegate to httpcore's backend."""
        self._backend.sleep(seconds)


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """The async twin of GuardedBackend, for a sender that runs many deliveries at once."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None = None,
        dialer: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """Keep the policy and resolver; sockets come from dialer (httpcore's AnyIOBackend)."""
        self._allow_private = allow_private
        self._resolver = resolver
        self._backend = dialer or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Open a TCP connection to the first checked address of host that answers."""
        # getaddrinfo blocks, so the one lookup runs in a worker thread.
        addresses = await anyio.to_thread.run_sync(
            functools.partial(
                _checked_addresses,
                host,
                port,
                allow_private=self._allow_private,
                resolver=self._resolver,
            )
        )
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # resolve_checked never returns an empty list
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: a webhook goes over TCP."""
        del timeout, socket_options  # part of httpcore's interface, nothing to use them for
        raise BlockedConnection(f"the unix socket {path} is not a webhook destination")

    async def sleep(self, seconds: float) -> None:
        """Delegate to httpcore's backend."""
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport with its connection pool built on the GuardedBackend."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
        max_connections: int = 10,
        dialer: httpcore.NetworkBackend | None = None,
    ) -> None:
        """Build the default transport, then swap in a pool that uses our backend."""
        super().__init__(verify=verify)
        # httpx 0.28 takes no network_backend argument (encode/httpx#3749 adds one), so the
        # pool is rebuilt from httpcore's public constructor with the same TLS settings.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            network_backend=GuardedBackend(
                allow_private=allow_private, resolver=resolver, dialer=dialer
            ),
        )


def guarded_client(
    *,
    allow_private: bool | None = None,
    resolver: Resolver | None = None,
    verify: ssl.SSLContext | bool = True,
    timeout: float = TIMEOUT_SECONDS,
    dialer: httpcore.NetworkBackend | None = None,
) -> httpx.Client:
    """A client for webhook deliveries: checked addresses only, no redirects, no env proxies.

    `resolver` and `dialer` (what opens the socket to a checked address) are for tests.
    """
    if allow_private is None:
        allow_private = get_settings().allow_private_webhook_urls
    return httpx.Client(
        transport=GuardedTransport(
            allow_private=allow_private, resolver=resolver, verify=verify, dialer=dialer
        ),
        timeout=timeout,
        # A redirect is a failed attempt: following it would call a URL nobody checked.
        follow_redirects=False,
        # A proxy from the environment would do its own lookup of the host name.
        trust_env=False,
    )


class AsyncGuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's async transport with its connection pool built on the AsyncGuardedBackend."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
        max_connections: int = 100,
        dialer: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """Build the default transport, then swap in a pool that uses our backend."""
        super().__init__(verify=verify)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            network_backend=AsyncGuardedBackend(
                allow_private=allow_private, resolver=resolver, dialer=dialer
            ),
        )


def guarded_async_client(
    *,
    allow_private: bool | None = None,
    resolver: Resolver | None = None,
    verify: ssl.SSLContext | bool = True,
    timeout: float = TIMEOUT_SECONDS,
    dialer: httpcore.AsyncNetworkBackend | None = None,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """The async twin of guarded_client: same checks, no redirects, no env proxies."""
    if allow_private is None:
        allow_private = get_settings().allow_private_webhook_urls
    return httpx.AsyncClient(
        transport=AsyncGuardedTransport(
            allow_private=allow_private,
            resolver=resolver,
            verify=verify,
            dialer=dialer,
            max_connections=max_connections,
        ),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


def delivered(response: httpx.Response) -> bool:
    """Only a 2xx answer counts as delivered (3xx included among failures)."""
    return 200 <= response.status_code < 300
