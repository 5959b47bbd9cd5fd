"""Shared pydantic pieces: strict input models, safe strings, money, pages."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    model_validator,
)

T = TypeVar("T")

MAX_PAGE_SIZE = 100


def _has_nul(value: Any) -> bool:
    """True when a string anywhere inside value holds a NUL byte (PostgreSQL text cannot).

    Walks with a stack, not recursion: a body nested thousands of levels deep is refused
    by the checks, never a RecursionError.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, BaseModel):
            stack.extend(item.__dict__.values())
    return False


def _reject_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SafeStr = Annotated[str, AfterValidator(_reject_nul)]
"""A string safe to store in PostgreSQL text (no NUL bytes); use it for query parameters."""


# The forms JSON Schema's `date-time` and `date` formats allow (RFC 3339), and no others:
# pydantic alone would also read `0.5` as a Unix time, which the document calls invalid.
_RFC3339_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_RFC3339_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _rfc3339(pattern: re.Pattern[str], example: str) -> Any:
    """A before-validator refusing strings that are not of the RFC 3339 form `pattern`."""

    def check(value: Any) -> Any:
        """The value if it has the form (dates built in code pass as they are)."""
        if isinstance(value, dt.date):
            return value
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(f"expected an RFC 3339 value such as {example}")
        return value

    return check


DateTimeParam = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339(_RFC3339_DATE_TIME, "2026-01-31T09:30:00Z"))
]
"""A date-time query parameter: RFC 3339 with a time zone, as its `date-time` format says."""
DateParam = Annotated[dt.date, BeforeValidator(_rfc3339(_RFC3339_DATE, "2026-01-31"))]
"""A date query parameter: RFC 3339 full-date (YYYY-MM-DD), as its `date` format says."""


# email-validator refuses special-use domains (RFC 6761) and domain labels over 63 characters,
# which the `email` format allows: the document states both as a pattern (JSON Schema
# regexes have no case-insensitive flag); the server keeps checking with email-validator.
_SPECIAL_USE = "|".join(
    "".join(f"[{c}{c.upper()}]" for c in name)
    for name in ("arpa", "invalid", "local", "localhost", "onion", "test")
)
Email = Annotated[
    EmailStr,
    Field(
        json_schema_extra={
            "maxLength": 254,
            "pattern": rf"^(?!.*@(?:.*\.)?(?:{_SPECIAL_USE})\.?$)(?!.*@[^@]*[^.@]{{64}}).*$",
        }
    ),
]
"""An email address as email-validator accepts it (no special-use domains such as .test)."""


Id = Annotated[uuid.UUID, Field(strict=False)]
"""A uuid in a request body: JSON has no uuid type, so it arrives as a string."""

# A visitor's or session's id as the visitor pages' cookies and tracking clients send it.
VisitorRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="1-64 characters of letters, digits and . _ : -",
    ),
]


# Deeper JSON than any real document needs (a page's element tree nests about a dozen).
MAX_JSON_DEPTH = 24


# The deepest request body read at all (its fields are then held to MAX_JSON_DEPTH and their
# own rules): far above any real request, far below the interpreter's recursion limit.
MAX_BODY_DEPTH = 64


def shallow_json(value: Any, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Refuse absurdly nested JSON before anything walks it recursively."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"nested more than {max_depth} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


def parse_json(raw: bytes | str) -> Any:
    """A request body read as JSON; ValueError for anything else (bad UTF-8, bad JSON, too deep).

    json.loads recurses once per level and past the interpreter's limit raises RecursionError,
    which is no ValueError: every reader of raw bodies goes through here, so none forgets it,
    and what it returns is shallow enough for anything that walks it recursively afterwards.
    """
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise ValueError(f"nested more than {MAX_BODY_DEPTH} levels deep") from exc
    return shallow_json(value, MAX_BODY_DEPTH)


def _integral_floats_as_ints(value: Any) -> Any:
    """Read 3.0 as 3, in place: JSON Schema's `integer` allows it, strict pydantic would not.

    Walks with a stack, like _has_nul: depth is refused later, never a RecursionError.
    """
    stack = [value] if isinstance(value, dict | list) else []
    while stack:
        item = stack.pop()
        keys: Any = list(item.keys()) if isinstance(item, dict) else range(len(item))
        for key in keys:
            element = item[key]
            if isinstance(element, float) and element.is_integer():
                item[key] = int(element)
            elif isinstance(element, dict | list):
                stack.append(element)
    return value


class InputModel(BaseModel):
    """Base of request bodies: strict types; unknown fields and NUL bytes are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers(cls, data: Any) -> Any:
        """3.0 as 3 before the strict checks."""
        return _integral_floats_as_ints(data)

    @model_validator(mode="after")
    def _no_nul_bytes(self) -> InputModel:
        if _has_nul(self):
            raise ValueError("strings must not contain NUL characters")
        return self


def null_only_where_allowed(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A PATCH field's schema allows null only if the model's `nullable` names it."""
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in nullable or not options:
            continue
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == len(options):
            continue
        del prop["anyOf"]
        if prop.get("default", "") is None:
            del prop["default"]  # the field may be left out, not sent as null
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


class PatchModel(InputModel):
    """Base of PATCH bodies: only sent fields change; null only where a field may be empty."""

    model_config = ConfigDict(json_schema_extra=null_only_where_allowed)

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PatchModel:
        bad = [
            name
            for name in self.model_fields_set
            if getattr(self, name) is None and name not in self.nullable
        ]
        if bad:
            raise ValueError(f"may not be null: {', '.join(sorted(bad))}")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent."""
        return self.model_dump(exclude_unset=True)


class OutputModel(BaseModel):
    """Base of response bodies: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Currency = Annotated[
    str,
    BeforeValidator(_upper),
    Field(
        pattern=r"^[A-Z]{3}$",
        examples=["USD"],
        description="ISO 4217 code (read upper-cased)",
        # What is checked after upper-casing, as the document can state it.
        json_schema_extra={"pattern": "^[A-Za-z]{3}$"},
    ),
]
Cents = Annotated[int, Field(ge=0, le=10**12, description="amount in the currency's minor unit")]


@dataclass(frozen=True)
class PageParams:
    """Which page of a list the caller asked for."""

    page: int = 1
    page_size: int = 20

    @property
    def offset(self) -> int:
        """Rows to skip."""
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[T]):
    """One page of a list, as every list endpoint answers it."""

    items: list[T]
    total: int
    page: int
    page_size: int


M = TypeVar("M", bound=BaseModel)


def page_of(item_model: type[M], rows: Sequence[Any], total: int, params: PageParams) -> Page[M]:
    """A Page of item_model built from ORM rows."""
    return Page[item_model](  # type: ignore[valid-type]
        items=[item_model.model_validate(row, from_attributes=True) for row in rows],
        total=total,
        page=params.page,
        page_size=params.page_size,
    )
