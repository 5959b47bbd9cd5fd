"""Who a visitor is: first-party cookies, the session's idle renewal, tracking consent.

The ids are not secrets (they name a browser to analytics, as every tracking cookie does),
so the page's script may read them; the CSRF token is readable by design (double submit).
Only the order's customer token is HttpOnly.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

VISITOR_COOKIE = "visitor_id"
SESSION_COOKIE = "session_id"
CONSENT_COOKIE = "tracking_consent"
CSRF_COOKIE = "fp_csrf"
ORDER_COOKIE = "fp_order"
# What an id cookie must look like to be reused (the contract's VisitorRef); anything else
# is replaced by a fresh id, so a forged cookie can never reach the analytics body.
_REF = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CSRF = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
Consent = Literal["granted", "denied", "unknown"]


def new_ref(prefix: str) -> str:
    """A fresh random id such as `v_3f9c…` (128 bits)."""
    return f"{prefix}_{secrets.token_hex(16)}"


def valid_ref(value: str | None) -> str | None:
    """The cookie's value when it is a well-formed id, else None."""
    return value if value and _REF.fullmatch(value) else None


def valid_csrf(value: str | None) -> str | None:
    """The CSRF cookie's value when it is well formed, else None."""
    return value if value and _CSRF.fullmatch(value) else None


def consent_of(cookie: str | None) -> Consent:
    """The visitor's answer to the consent banner, from its cookie."""
    return "granted" if cookie == "yes" else "denied" if cookie == "no" else "unknown"


@dataclass(frozen=True)
class Cookie:
    """One Set-Cookie to send (attributes chosen here, once)."""

    name: str
    value: str
    max_age: int
    path: str = "/f/"
    httponly: bool = False


@dataclass(frozen=True)
class Identity:
    """The ids a page view carries (None without consent) and the cookies to (re)set."""

    visitor_id: str | None
    session_id: str | None
    csrf_token: str
    cookies: list[Cookie] = field(default_factory=list)


def identify(
    cookies: dict[str, str],
    *,
    tracking_allowed: bool,
    idle_minutes: int,
    visitor_days: int,
) -> Identity:
    """The visitor's ids from its cookies, new ones where missing, and the cookies to set.

    The session cookie lives `idle_minutes` and is renewed by every page view, so a
    session ends after that long without one. Without tracking consent no id is made or
    renewed; the CSRF cookie is strictly necessary for the forms and is always set.
    """
    csrf = valid_csrf(cookies.get(CSRF_COOKIE)) or secrets.token_urlsafe(32)
    out = [Cookie(CSRF_COOKIE, csrf, visitor_days * 86400)]
    if not tracking_allowed:
        return Identity(None, None, csrf, out)
    visitor = valid_ref(cookies.get(VISITOR_COOKIE)) or new_ref("v")
    session = valid_ref(cookies.get(SESSION_COOKIE)) or new_ref("s")
    out += [
        Cookie(VISITOR_COOKIE, visitor, visitor_days * 86400),
        Cookie(SESSION_COOKIE, session, idle_minutes * 60),
    ]
    return Identity(visitor, session, csrf, out)


def tracking_allowed(require_consent: bool, consent_cookie: str | None) -> bool:
    """Whether this visitor may be tracked: no consent needed, or consent given."""
    return not require_consent or consent_of(consent_cookie) == "granted"
