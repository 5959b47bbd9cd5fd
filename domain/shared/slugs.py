"""URL slugs: made from names, checked, and kept unique within a scope."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container
from typing import Annotated

from pydantic import Field

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG_MAX = 100

Slug = Annotated[
    str,
    Field(
        min_length=1,
        max_length=SLUG_MAX,
        pattern=SLUG_PATTERN,
        description="lower-case letters, digits and single hyphens",
        examples=["my-funnel"],
    ),
]


def slugify(text: str, *, fallback: str = "item") -> str:
    """A slug made from free text (accents dropped, anything else becomes a hyphen)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_MAX].strip("-") or fallback


def unique_slug(base: str, taken: Container[str]) -> str:
    """base, or base-2, base-3, ... : the first one not in taken (and within SLUG_MAX)."""
    base = base[:SLUG_MAX].strip("-") or "item"
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: SLUG_MAX - len(suffix)].strip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1
