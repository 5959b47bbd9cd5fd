"""An opt-in form post: checked on the server, then the contact and the opt-in recorded."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from domain.contacts import service as contacts
from domain.shared.schemas import Email, SafeStr

# The form fields kept as the contact's own columns; any other field of the form goes to
# its attributes (bounded below).
MAX_EXTRA_FIELDS = 20
MAX_EXTRA_LENGTH = 1000
LABELS = {"email": "Email", "first_name": "First name", "last_name": "Last name", "phone": "Phone"}
KNOWN = {*LABELS, "marketing_consent", "csrf_token", "fp_website"}


class OptinForm(BaseModel):
    """What an opt-in form may carry (strings as browsers send them)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: Email
    first_name: SafeStr | None = Field(default=None, max_length=100)
    last_name: SafeStr | None = Field(default=None, max_length=100)
    phone: SafeStr | None = Field(default=None, max_length=40)


@dataclass(frozen=True)
class Checked:
    """A post that passed the checks, or the messages saying what to fix."""

    form: OptinForm | None
    consent: bool
    attributes: dict[str, str]
    errors: list[str]


def _message(error: Any) -> str:
    field = str(error["loc"][0]) if error["loc"] else "form"
    label = LABELS.get(field, field)
    if field == "email":
        return "Enter a valid email address" if error["type"] != "missing" else "Enter your email"
    if error["type"] in ("string_too_long", "too_long"):
        return f"{label} is too long"
    return f"{label}: {error['msg']}"


def check(values: dict[str, str]) -> Checked:
    """Validate a posted form (values: the last value of each field)."""
    cleaned = {k: v for k, v in values.items() if k in LABELS and v.strip() != ""}
    errors: list[str] = []
    form = None
    try:
        form = OptinForm.model_validate(cleaned)
    except ValidationError as exc:
        errors = [_message(e) for e in exc.errors()]
    extra = {k: v for k, v in values.items() if k not in KNOWN}
    if len(extra) > MAX_EXTRA_FIELDS or any(len(v) > MAX_EXTRA_LENGTH for v in extra.values()):
        errors.append("The form carries too much; shorten what you typed")
    if any("\x00" in v for v in extra.values()):
        errors.append("The form carries characters it cannot take")
    consent = values.get("marketing_consent", "") not in ("", "no", "false", "0")
    return Checked(form if not errors else None, consent, extra, errors)


def record_optin(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    step_id: uuid.UUID,
    checked: Checked,
    visitor_id: str | None,
    session_id: str | None,
) -> uuid.UUID:
    """Upsert the contact (with its consent and visitor) and record contact.opted_in."""
    form = checked.form
    assert form is not None
    contact, _ = contacts.upsert_contact(
        session,
        account_id=account_id,
        email=form.email,
        first_name=form.first_name,
        last_name=form.last_name,
        phone=form.phone,
        source=f"funnel:{funnel_id}",
        attributes=checked.attributes or None,
        marketing_consent=checked.consent,
        visitor_id=visitor_id,
    )
    contacts.record_opt_in(
        session,
        account_id=account_id,
        contact_id=contact.id,
        funnel_id=funnel_id,
        step_id=step_id,
        email_consent=checked.consent,
        visitor_id=visitor_id,
        session_id=session_id,
    )
    return contact.id
