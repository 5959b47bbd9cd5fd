"""Cross-site request forgery on the visitor forms: a double-submit token and an Origin check."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit


def same_origin(host: str | None, origin: str | None, referer: str | None) -> bool:
    """Whether the form was posted from a page of this host.

    Browsers send Origin with every POST; Referer is the fallback for the few that leave it
    out (or send "null" from privacy modes). Neither: refused, since a form of ours always
    has one. The host is compared without the scheme, which a TLS proxy in front may change.
    """
    if not host:
        return False
    source = origin if origin and origin != "null" else referer
    if not source:
        return False
    return urlsplit(source).netloc.lower() == host.lower()


def token_matches(cookie: str | None, field: str | None) -> bool:
    """The form's token equals the CSRF cookie (a cross-site page can set neither)."""
    return bool(cookie and field) and hmac.compare_digest(str(cookie), str(field))


def check(
    *,
    host: str | None,
    origin: str | None,
    referer: str | None,
    cookie: str | None,
    field: str | None,
) -> str | None:
    """None when the post is ours, else the reason it is refused."""
    if not same_origin(host, origin, referer):
        return "The form was not sent from this site"
    if not token_matches(cookie, field):
        return "The form expired; reload the page and send it again"
    return None
