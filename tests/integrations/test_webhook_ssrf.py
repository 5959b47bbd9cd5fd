"""The webhook SSRF guard: refused when saved AND when connecting, counted at a real receiver."""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import Callable, Iterator

import httpcore
import httpx
import pytest
import trustme

from domain.integrations.webhooks.client import (
    BlockedConnection,
    delivered,
    guarded_async_client,
    guarded_client,
)
from domain.integrations.webhooks.ssrf import (
    UnsafeURL,
    blocked_reason,
    check_url,
    resolve_checked,
    system_resolver,
)
from domain.shared.settings import get_settings
from tests.support.aio import run_async
from tests.support.webhook_receiver import Receiver

# Hosts (as they appear in a URL) that must never be called. Names ending in .test are
# answered by the injected resolver below; everything else goes to the real getaddrinfo.
CORPUS = [
    "127.0.0.1",
    "2130706433",  # decimal 127.0.0.1
    "0x7f.1",  # hex, short form
    "0x7f000001",  # hex, one number
    "127.1",  # short form
    "127.0.1",
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped loopback
    "[::ffff:7f00:1]",  # the same, written in hex
    "[::ffff:169.254.169.254]",  # IPv4-mapped cloud metadata
    "169.254.169.254",  # cloud metadata
    "[fd00:ec2::254]",  # AWS metadata over IPv6
    "100.64.0.1",  # CGNAT
    "100.100.100.200",  # Alibaba metadata, in CGNAT
    "0.0.0.0",  # noqa: S104 (a host to refuse, nothing binds to it)
    "[::]",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "224.0.0.1",  # multicast
    "[ff02::1]",  # IPv6 multicast
    "255.255.255.255",  # broadcast
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "[::127.0.0.1]",  # IPv4-compatible loopback
    "[fe80::1]",  # IPv6 link-local
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "loopback.test",  # a name that resolves to 127.0.0.1
    "metadata.test",  # a name that resolves to the metadata address
    "mixed.test",  # one public answer and one private: any bad answer refuses
]

NAMES = {
    "loopback.test": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["1.1.1.1", "127.0.0.1"],
    "receiver.test": ["127.0.0.1"],
}


def resolver(host: str, port: int) -> list[str]:
    """Test names from NAMES, everything else from the system resolver."""
    return NAMES[host] if host in NAMES else system_resolver(host, port)


class ToReceiver(httpcore.NetworkBackend):
    """A dialer that sends every connection it is asked for to the receiver, and logs it.

    With it, an address the guard wrongly let through (10.0.0.1, say) reaches the
    receiver, so "0 connections at the receiver" is a real check for every corpus entry.
    """

    def __init__(self, port: int) -> None:
        """Dial 127.0.0.1:port whatever the address."""
        self.port = port
        self.asked: list[str] = []
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Record the address asked for, connect to the receiver."""
        self.asked.append(f"{host}:{port}")
        return self._backend.connect_tcp(
            "127.0.0.1", self.port, timeout, local_address, socket_options
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A fresh counting receiver."""
    r = Receiver().start()
    yield r
    r.stop()


def _post_each(client: httpx.Client, port: int) -> list[str]:
    """POST to every corpus host; the outcome of each (status or error class)."""
    outcomes = []
    for host in CORPUS:
        try:
            outcomes.append(
                str(client.post(f"http://{host}:{port}/hook", content=b"{}").status_code)
            )
        except httpx.HTTPError as exc:
            outcomes.append(type(exc).__name__)
    return outcomes


def test_corpus_is_refused_when_saved() -> None:
    """Every corpus URL is refused by check_url, naming the field url and the address."""
    for host in [*CORPUS, "0177.0.0.1"]:  # octal: httpx refuses to parse it
        with pytest.raises(UnsafeURL) as caught:
            check_url(f"https://{host}:8443/hook", allow_private=False, resolver=resolver)
        assert caught.value.details == [{"loc": ["url"], "msg": caught.value.reason}]
        assert caught.value.status_code == 422
        if host != "0177.0.0.1":
            assert "resolves to" in caught.value.reason, (host, caught.value.reason)


def test_numeric_forms_resolve_to_loopback_and_are_refused() -> None:
    """The resolver accepts decimal, octal, hex and short forms; the address check refuses them."""
    for form in ["2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.1", "017700000001"]:
        assert system_resolver(form, 443) == ["127.0.0.1"], form
        with pytest.raises(UnsafeURL, match=r"127\.0\.0\.1"):
            resolve_checked(form, 443, allow_private=False)


def test_corpus_never_reaches_the_receiver(receiver: Receiver) -> None:
    """Connecting is checked too: not one connection reaches the receiver."""
    dialer = ToReceiver(receiver.port)
    with guarded_client(allow_private=False, resolver=resolver, dialer=dialer) as client:
        outcomes = _post_each(client, receiver.port)
    assert outcomes == ["ConnectError"] * len(CORPUS)
    assert dialer.asked == []
    assert receiver.connections == 0


def test_corpus_reaches_the_receiver_when_private_urls_are_allowed(receiver: Receiver) -> None:
    """The control: with private URLs allowed, the same corpus does reach the receiver."""
    dialer = ToReceiver(receiver.port)
    with guarded_client(allow_private=True, resolver=resolver, dialer=dialer) as client:
        outcomes = _post_each(client, receiver.port)
    assert outcomes == ["200"] * len(CORPUS)
    assert receiver.connections >= len(CORPUS)  # mixed.test may also try 1.1.1.1 first


async def _post_each_async(allow_private: bool, port: int) -> list[str]:
    """The async client's outcome for every corpus host (all sent at once)."""

    async def one(client: httpx.AsyncClient, host: str) -> str:
        """Status of one POST, or the class of the error it raised."""
        try:
            return str((await client.post(f"http://{host}:{port}/hook", content=b"{}")).status_code)
        except httpx.HTTPError as exc:
            return type(exc).__name__

    async with guarded_async_client(
        allow_private=allow_private, resolver=resolver, dialer=AsyncToReceiver(port)
    ) as client:
        return list(await asyncio.gather(*(one(client, host) for host in CORPUS)))


class AsyncToReceiver(httpcore.AsyncNetworkBackend):
    """The async ToReceiver: every connection asked for goes to the receiver."""

    def __init__(self, port: int) -> None:
        """Dial 127.0.0.1:port whatever the address."""
        self.port = port
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the receiver."""
        del host, port
        return await self._backend.connect_tcp(
            "127.0.0.1", self.port, timeout, local_address, socket_options
        )


def test_async_client_refuses_the_corpus_too(receiver: Receiver) -> None:
    """The async client (for the concurrent sender) refuses it; allowed, it reaches the receiver."""
    assert run_async(_post_each_async(False, receiver.port)) == ["ConnectError"] * len(CORPUS)
    assert receiver.connections == 0
    assert run_async(_post_each_async(True, receiver.port)) == ["200"] * len(CORPUS)
    assert receiver.connections >= len(CORPUS)


def test_real_loopback_forms_never_reach_the_receiver(receiver: Receiver) -> None:
    """Without the test dialer: loopback forms that really lead to the receiver are refused."""
    forms = ["127.0.0.1", "2130706433", "0x7f.1", "127.1", "localhost", "[::ffff:127.0.0.1]"]
    with guarded_client(allow_private=False) as client:
        for host in forms:
            with pytest.raises(httpx.ConnectError):
                client.post(f"http://{host}:{receiver.port}/hook", content=b"{}")
    assert receiver.connections == 0
    with guarded_client(allow_private=True) as client:
        for host in forms:
            assert (
                client.post(f"http://{host}:{receiver.port}/hook", content=b"{}").status_code == 200
            )
    assert receiver.connections == len(forms)


def test_setting_allows_private_urls(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """ALLOW_PRIVATE_WEBHOOK_URLS=true lets both the check and the client reach the receiver."""
    url = f"http://127.0.0.1:{receiver.port}/hook"
    with guarded_client() as client, pytest.raises(httpx.ConnectError):
        client.post(url, content=b"{}")
    assert receiver.connections == 0
    monkeypatch.setenv("ALLOW_PRIVATE_WEBHOOK_URLS", "true")
    get_settings.cache_clear()
    try:
        assert check_url(url).addresses == ("127.0.0.1",)
        with guarded_client() as client:
            assert client.post(url, content=b"{}").status_code == 200
    finally:
        monkeypatch.delenv("ALLOW_PRIVATE_WEBHOOK_URLS")
        get_settings.cache_clear()
    assert receiver.connections == 1


def flipping(
    first: list[str], then: list[str]
) -> tuple[Callable[[str, int], list[str]], list[str]]:
    """A resolver that answers `first` once and `then` ever after, and the log of its calls."""
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        """Answer first on the first call, then ever after."""
        calls.append(host)
        return first if len(calls) == 1 else then

    return resolve, calls


def test_dns_rebinding_does_not_pass(receiver: Receiver) -> None:
    """Public when saved, 127.0.0.1 when connecting: refused, 0 connections."""
    resolve, calls = flipping(["93.184.215.14"], ["127.0.0.1"])
    url = f"https://rebind.test:{receiver.port}/hook"
    assert check_url(url, allow_private=False, resolver=resolve).addresses == ("93.184.215.14",)
    with (
        guarded_client(allow_private=False, resolver=resolve) as client,
        pytest.raises(httpx.ConnectError, match=r"127\.0\.0\.1"),
    ):
        client.post(url, content=b"{}")
    assert calls == ["rebind.test", "rebind.test"]
    assert receiver.connections == 0


def test_dns_rebinding_through_getaddrinfo(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The system resolver flips too: our client refuses; a plain httpx client is fooled."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: object, port: object, *args: object, **kwargs: object) -> list[object]:
        """Public for the first lookup of rebind.test, loopback after; others are real."""
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        answers.append("93.184.215.14" if not answers else "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    saved = check_url(f"https://rebind.test:{receiver.port}/hook", allow_private=False)
    assert saved.addresses == ("93.184.215.14",)
    url = f"http://rebind.test:{receiver.port}/hook"  # plain HTTP, so the receiver can answer
    with guarded_client(allow_private=False) as client, pytest.raises(httpx.ConnectError):
        client.post(url, content=b"{}")
    assert receiver.connections == 0
    # The control: a client that looks the name up again on its own is led to the receiver.
    with httpx.Client() as naive:
        assert naive.post(url, content=b"{}").status_code == 200
    assert receiver.connections == 1


def test_connection_goes_to_the_address_checked_with_one_lookup(receiver: Receiver) -> None:
    """The client resolves once per connection and dials that answer, keeping the Host header."""
    resolve, calls = flipping(["127.0.0.1"], ["192.0.2.1"])  # a second lookup would go nowhere
    with guarded_client(allow_private=True, resolver=resolve) as client:
        response = client.post(f"http://receiver.test:{receiver.port}/hook", content=b"{}")
    assert response.status_code == 200
    assert calls == ["receiver.test"]
    assert receiver.requests[0].headers["Host"] == f"receiver.test:{receiver.port}"


def test_redirect_is_a_failure_and_not_followed(receiver: Receiver) -> None:
    """An allowed receiver answering 302 to a private one: not followed, not delivered."""
    redirector = Receiver(status=302, location=f"http://127.0.0.1:{receiver.port}/hook").start()
    try:
        with guarded_client(allow_private=True) as client:
            response = client.post(f"http://127.0.0.1:{redirector.port}/", content=b"{}")
    finally:
        redirector.stop()
    assert response.status_code == 302
    assert not delivered(response)
    assert redirector.connections == 1
    assert receiver.connections == 0


def test_tls_keeps_sni_and_certificate_check_for_the_host_name() -> None:
    """Dialling the checked IP still sends SNI for, and verifies the certificate of, the name."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.example.test").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    names = {"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}
    tls_receiver = Receiver().start(tls=server_ctx)
    try:
        with guarded_client(
            allow_private=True, resolver=lambda host, _port: names[host], verify=client_ctx
        ) as client:
            ok = client.post(f"https://hooks.example.test:{tls_receiver.port}/", content=b"{}")
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                client.post(f"https://other.example.test:{tls_receiver.port}/", content=b"{}")
    finally:
        tls_receiver.stop()
    assert ok.status_code == 200
    assert tls_receiver.sni[0] == "hooks.example.test"
    assert tls_receiver.requests[0].headers["Host"] == f"hooks.example.test:{tls_receiver.port}"


@pytest.mark.parametrize(
    "addresses",
    [["1.1.1.1"], ["2606:4700:4700::1111"], ["8.8.8.8", "2001:4860:4860::8888"]],
)
def test_public_addresses_are_accepted(addresses: list[str]) -> None:
    """A name that resolves only to public addresses passes, with its addresses returned."""
    checked = check_url(
        "https://hooks.example.com:8443/in?x=1",
        allow_private=False,
        resolver=lambda _host, _port: addresses,
    )
    assert (checked.host, checked.port, checked.addresses) == (
        "hooks.example.com",
        8443,
        tuple(addresses),
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/", "must be https"),
        ("ftp://hooks.example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://hooks.example.com:0/", "port"),
        ("https:///nohost", "host"),
        ("not a url", "scheme"),
        ("https://" + "a" * 3000 + ".com/", "longer"),
        ("https://docs.test/", "not a public address"),  # TEST-NET-1 is not public either
        ("https://nxdomain.test/", "does not resolve"),
    ],
)
def test_url_shape_rules(url: str, reason: str) -> None:
    """Scheme, credentials, port, host, length and resolution rules, each with its reason."""

    def names(host: str, _port: int) -> list[str]:
        """docs.test answers TEST-NET-1; every other name does not resolve."""
        if host == "docs.test":
            return ["192.0.2.10"]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnsafeURL, match=reason):
        check_url(url, allow_private=False, resolver=names)


@pytest.mark.parametrize(
    "address",
    ["1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"],
)
def test_public_forms_are_not_blocked(address: str) -> None:
    """Public unicast addresses, including NAT64 and 6to4 of a public one, pass."""
    assert blocked_reason(address) is None


def test_blocked_connection_is_a_connect_error() -> None:
    """The client's refusal surfaces as httpx.ConnectError, which callers already handle."""
    assert issubclass(BlockedConnection, httpcore.ConnectError)
