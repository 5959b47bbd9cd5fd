"""Shared pydantic pieces: strict input models, safe strings, money, pages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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


Id = Annotated[uuid.UUID, Field(strict=False)]
"""A uuid in a request body: JSON has no uuid type, so it arrives as a string."""


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


class InputModel(BaseModel):
    """Base of request bodies: strict types; unknown fields and NUL bytes are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _no_nul_bytes(self) -> InputModel:
        if _has_nul(self):
            raise ValueError("strings must not contain NUL characters")
        return self


class PatchModel(InputModel):
    """Base of PATCH bodies: only sent fields change; null only where a field may be empty."""

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
    Field(pattern=r"^[A-Z]{3}$", examples=["USD"], description="ISO 4217 code"),
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
