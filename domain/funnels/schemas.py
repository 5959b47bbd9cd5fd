"""Request and response shapes of the funnel builder."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from domain.funnels.models import OFFER_STEP_TYPES, FunnelStatus, FunnelType, StepType
from domain.shared.schemas import (
    Id,
    InputModel,
    OutputModel,
    PatchModel,
    null_only_where_allowed,
    shallow_json,
)
from domain.shared.slugs import Slug

MAX_STEPS = 50
MAX_BUMPS = 5
MAX_SETTINGS_KEYS = 50


def _small_settings(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_SETTINGS_KEYS:
        raise ValueError(f"at most {MAX_SETTINGS_KEYS} settings")
    if len(json.dumps(value)) > 20_000:
        raise ValueError("settings are too large (20 kB at most)")
    return value


def _distinct(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("must not repeat a product")
    return ids


Settings = Annotated[dict[str, Any], AfterValidator(shallow_json), AfterValidator(_small_settings)]
BumpIds = Annotated[
    list[Id],
    Field(max_length=MAX_BUMPS, description="order bumps of an order_form"),
    AfterValidator(_distinct),
]


def _offer_rules(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """What only offer steps carry, stated in the schema for a body that names its step_type
    (the service checks the same; a PATCH without step_type is checked against the step's)."""
    if issubclass(model, PatchModel):
        null_only_where_allowed(schema, model)

    def step_type_is_not(types: list[str]) -> dict[str, Any]:
        """A condition: the body names a step_type that is not one of these."""
        return {"properties": {"step_type": {"not": {"enum": types}}}, "required": ["step_type"]}

    schema["allOf"] = [
        {
            "if": step_type_is_not(sorted(OFFER_STEP_TYPES)),
            "then": {"properties": {"product_id": {"type": "null"}}},
        },
        {
            "if": step_type_is_not(["order_form"]),
            "then": {"properties": {"bump_product_ids": {"maxItems": 0}}},
        },
    ]


class StepIn(InputModel):
    """A new step of a funnel."""

    model_config = ConfigDict(json_schema_extra=_offer_rules)

    name: str = Field(min_length=1, max_length=200)
    step_type: StepType
    slug: Slug | None = None
    page_id: Id | None = None
    product_id: Id | None = Field(
        default=None, description="the product an offer step sells (order_form, upsell, ...)"
    )
    bump_product_ids: BumpIds = Field(default_factory=list)
    settings: Settings = Field(default_factory=dict)
    position: int | None = Field(
        default=None, ge=0, description="where to insert it (default: at the end)"
    )


class StepPatch(PatchModel):
    """Fields of a step to change."""

    model_config = ConfigDict(json_schema_extra=_offer_rules)

    nullable = frozenset({"page_id", "product_id", "version"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    step_type: StepType | None = None
    slug: Slug | None = None
    page_id: Id | None = None
    product_id: Id | None = None
    bump_product_ids: BumpIds | None = None
    settings: Settings | None = None
    version: int | None = Field(default=None, ge=1, description="the funnel version you edited")


class StepOrder(InputModel):
    """A new order of a funnel's steps: every step id exactly once."""

    step_ids: list[Id] = Field(max_length=MAX_STEPS)
    version: int | None = Field(default=None, ge=1)


class FunnelIn(InputModel):
    """A new funnel, optionally with its first steps."""

    name: str = Field(min_length=1, max_length=200)
    funnel_type: FunnelType
    slug: Slug | None = None
    description: str | None = Field(default=None, max_length=5000)
    settings: Settings = Field(default_factory=dict)
    steps: list[StepIn] = Field(default_factory=list, max_length=MAX_STEPS)


class FunnelPatch(PatchModel):
    """Fields of a funnel to change; status=active publishes."""

    nullable = frozenset({"description", "version"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: Slug | None = None
    funnel_type: FunnelType | None = None
    description: str | None = Field(default=None, max_length=5000)
    settings: Settings | None = None
    status: FunnelStatus | None = None
    version: int | None = Field(default=None, ge=1, description="the version you edited")


class FromTemplateIn(InputModel):
    """Build a funnel and its pages from a template of the library."""

    template_id: Id
    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: Slug | None = None
    product_map: dict[str, Id] = Field(
        default_factory=dict,
        max_length=20,
        description="template offer key → one of your products; unmapped offers get samples",
    )


class CloneIn(InputModel):
    """Options of a clone."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: Slug | None = None


class StepOut(OutputModel):
    """A step of a funnel."""

    id: uuid.UUID
    funnel_id: uuid.UUID
    position: int
    name: str
    slug: str
    step_type: str
    page_id: uuid.UUID | None
    product_id: uuid.UUID | None
    bump_product_ids: list[uuid.UUID]
    settings: Settings
    created_at: datetime
    updated_at: datetime


class FunnelSummaryOut(OutputModel):
    """A funnel as lists show it (without steps)."""

    id: uuid.UUID
    name: str
    slug: str
    funnel_type: str
    description: str | None
    status: str
    version: int
    published_version: int | None
    published_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class FunnelOut(FunnelSummaryOut):
    """A funnel with its settings and ordered steps."""

    settings: Settings
    steps: list[StepOut]


class FunnelVersionOut(OutputModel):
    """A published snapshot, addressed by the edit version it was taken at."""

    version: int
    live: bool = Field(description="whether visitors see this snapshot now")
    published_by: uuid.UUID | None
    created_at: datetime
    snapshot: dict[str, Any]


class TemplateStepOut(OutputModel):
    """A step a template builds."""

    name: str
    slug: str
    step_type: str


class TemplateOfferOut(OutputModel):
    """An offer of a template: map it to your product, or a sample product is made."""

    key: str
    name: str
    price_cents: int
    currency: str


class TemplateOut(OutputModel):
    """A template of the library."""

    id: uuid.UUID
    key: str
    name: str
    category: str
    description: str
    steps: list[TemplateStepOut]
    offers: list[TemplateOfferOut]
