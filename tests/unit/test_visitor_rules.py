"""Visitor-page rules that need no server: ids from cookies, CSRF, forms shown again."""

from __future__ import annotations

from domain.visitors import csrf, identity
from domain.visitors.html import FormState, PageParts, visitor_page

FORM = (
    '<html><body><main class="page"><form class="el-form" method="post" data-element-id="f1" '
    'data-form="optin"><label>Email<input type="email" id="f1-email" name="email" required>'
    '</label><label>Note<textarea id="f1-note" name="note" rows="4"></textarea></label>'
    '<button type="submit">Go</button></form></main></body></html>'
)


def _ids(**cookies: str) -> identity.Identity:
    return identity.identify(cookies, tracking_allowed=True, idle_minutes=30, visitor_days=365)


def test_well_formed_ids_are_kept_and_anything_else_is_replaced() -> None:
    kept = _ids(visitor_id="v_abc", session_id="s_def", fp_csrf="t" * 43)
    assert (kept.visitor_id, kept.session_id, kept.csrf_token) == ("v_abc", "s_def", "t" * 43)
    forged = _ids(visitor_id='v"><script>', session_id="x" * 65, fp_csrf="short")
    assert forged.visitor_id != 'v"><script>'
    assert forged.visitor_id.startswith("v_")
    assert forged.session_id.startswith("s_")
    assert len(forged.csrf_token) >= 32
    ages = {c.name: c.max_age for c in forged.cookies}
    assert ages == {"fp_csrf": 365 * 86400, "visitor_id": 365 * 86400, "session_id": 1800}


def test_without_consent_only_the_csrf_cookie_is_set() -> None:
    assert identity.tracking_allowed(True, None) is False
    assert identity.tracking_allowed(True, "no") is False
    assert identity.tracking_allowed(True, "yes") is True
    assert identity.tracking_allowed(False, None) is True
    ident = identity.identify({}, tracking_allowed=False, idle_minutes=30, visitor_days=365)
    assert (ident.visitor_id, ident.session_id) == (None, None)
    assert [c.name for c in ident.cookies] == ["fp_csrf"]


def test_csrf_needs_this_host_and_the_cookie_token() -> None:
    ok = {"host": "shop.example", "cookie": "tok", "field": "tok", "referer": None}
    assert csrf.check(origin="https://shop.example", **ok) is None
    assert csrf.check(origin="http://shop.example", **ok) is None  # a TLS proxy in front
    assert csrf.check(origin="https://evil.example", **ok) is not None
    assert csrf.check(origin="null", **{**ok, "referer": "https://shop.example/f/a/b"}) is None
    assert csrf.check(origin=None, **ok) is not None
    bad = {**ok, "field": "other"}
    assert csrf.check(origin="https://shop.example", **bad) is not None
    assert csrf.check(origin="https://shop.example", **{**ok, "cookie": None}) is not None


def test_a_form_shown_again_keeps_what_was_typed_escaped() -> None:
    parts = PageParts(base="/f/a/b/c", context={"k": "</script><b>"}, scripts=["/s.js"])
    state = FormState({"email": 'x"><b>', "note": "</textarea><i>"}, ["Enter a valid email"])
    html = visitor_page(FORM, parts, state)
    assert 'action="/f/a/b/c/optin"' in html
    assert 'value="x&#34;&gt;&lt;b&gt;"' in html
    assert "&lt;/textarea&gt;&lt;i&gt;</textarea>" in html
    assert "<li>Enter a valid email</li>" in html
    assert 'name="marketing_consent"' in html
    assert html.index("marketing_consent") < html.index('<button type="submit">Go')
    assert "\\u003c/script>\\u003cb>" in html
    assert "</script><b>" not in html
    assert html.endswith('<script src="/s.js" defer></script>\n</body></html>')
