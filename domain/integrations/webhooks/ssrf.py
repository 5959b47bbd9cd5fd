"""Which webhook URLs and addresses we may call (docs/webhooks.md, "SSRF policy").

A URL is checked when a webhook is saved (`check_url`) and again on every connection
(`resolve_checked`, called by the client's network backend): the host is resolved once, every
address it resolves to must be public, and the connection goes to one of those addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from domain.shared.errors import InvalidInput
from domain.shared.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (injectable so tests can answer what they like)
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

# Ranges the stdlib flags do not all cover on every Python version (3.11 calls multicast and
# 100.64/10 neither private nor global in different ways), named so the policy reads as a list.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 included
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT (Alibaba's metadata service is 100.100.100.200)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, 255.255.255.255 broadcast
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "fc00::/7",  # unique local, AWS metadata fd00:ec2::254
        "fe80::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class UnsafeURL(InvalidInput):
    """The webhook URL is refused; `details` names the field `url` and the reason."""

    code = "unsafe_url"
    message = "This webhook URL is not allowed"

    def __init__(self, reason: str) -> None:
        """Keep the reason; the message and the detail both carry it."""
        self.reason = reason
        super().__init__(
            f"This webhook URL is not allowed: {reason}",
            details=[{"loc": ["url"], "msg": reason}],
        )


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the policy, with the addresses its host resolved to then."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address getaddrinfo gives for host (TCP), in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for *_, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]).split("%", 1)[0], None)  # drop an IPv6 zone id
    return list(seen)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form leads to (mapped, compatible, NAT64, 6to4).

    Teredo (2001::/32) is left to the general check, which refuses it as non-global.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(address: str | IPAddress) -> str | None:
    """Why this address may not be called, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            # The packet ends up at the IPv4 address, so its verdict is the one that counts
            # (the stdlib calls NAT64 of 8.8.8.8 non-global, yet IPv6-only networks use it).
            why = blocked_reason(inner)
            return f"{ip} embeds {inner}: {why}" if why else None
    if any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version):
        return f"{ip} is a private, loopback, link-local, multicast or reserved address"
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        # documentation, benchmarking and other special-purpose ranges
        return f"{ip} is not a public address"
    return None


def _parse(url: str, allow_private: bool) -> tuple[str, int]:
    """The host (IDNA/ASCII) and port of url, or UnsafeURL for its shape."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURL(f"not a valid URL ({exc})") from None
    if parsed.scheme not in DEFAULT_PORTS:
        raise UnsafeURL("the scheme must be https (or http where private URLs are allowed)")
    if parsed.scheme != "https" and not allow_private:
        raise UnsafeURL("the scheme must be https")
    if parsed.userinfo:
        raise UnsafeURL("credentials in the URL are not allowed (use the signature)")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise UnsafeURL("the URL has no host")
    port = DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 0 < port < 65536:
        raise UnsafeURL("the port must be between 1 and 65535")
    return host, port


def resolve_checked(
    host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None
) -> list[str]:
    """Resolve host once and return its addresses, or UnsafeURL if any one is not public."""
    try:
        addresses = (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"the host {host} does not resolve ({exc})") from None
    if not addresses:
        raise UnsafeURL(f"the host {host} does not resolve")
    if not allow_private:
        # ANY bad answer refuses the host: a name that also answers 127.0.0.1 is not public.
        for address in addresses:
            why = blocked_reason(address)
            if why:
                raise UnsafeURL(f"the host {host} resolves to {why}")
    return addresses


def check_url(
    url: str, *, allow_private: bool | None = None, resolver: Resolver | None = None
) -> CheckedURL:
    """Check a webhook URL when it is saved: its shape, then every address its host has."""
    if allow_private is None:
        allow_private = get_settings().allow_private_webhook_urls
    host, port = _parse(url, allow_private)
    addresses = resolve_checked(host, port, allow_private=allow_private, resolver=resolver)
    return CheckedURL(url=url, host=host, port=port, addresses=tuple(addresses))
