"""The template library's data: ready-made funnels shipped as JSON in template_library/.

Kept free of services so a migration can load it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.funnels.models import FunnelType, StepType

LIBRARY_DIR = Path(__file__).with_name("template_library")


class TemplateOffer(BaseModel):
    """Something a template sells; becomes a sample product unless mapped to a real one."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    price_cents: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class TemplateStep(BaseModel):
    """A step a template builds, with the page it gets."""

    model_config = ConfigDict(extra="forbid")

    name: str
    slug: str
    step_type: StepType
    offer: str | None = None
    bump_offers: list[str] = Field(default_factory=list)
    page: dict[str, Any] | None = None


class TemplateDefinition(BaseModel):
    """One template file of the library."""

    model_config = ConfigDict(extra="forbid")

    key: str
    name: str
    category: FunnelType
    description: str
    offers: dict[str, TemplateOffer]
    steps: list[TemplateStep]


def load_library(directory: Path = LIBRARY_DIR) -> list[TemplateDefinition]:
    """Every template file, parsed and checked (offers named by steps must exist)."""
    templates = []
    for path in sorted(directory.glob("*.json")):
        template = TemplateDefinition.model_validate_json(path.read_text(encoding="utf-8"))
        for step in template.steps:
            for key in [step.offer, *step.bump_offers]:
                if key is not None and key not in template.offers:
                    raise ValueError(f"{path.name}: step {step.slug} names unknown offer {key}")
        templates.append(template)
    return templates


def library_rows(directory: Path = LIBRARY_DIR) -> list[dict[str, Any]]:
    """The library as funnel_templates rows (what the migration loads)."""
    return [
        {
            "id": uuid.uuid5(uuid.NAMESPACE_URL, f"funnels:template:{t.key}"),
            "key": t.key,
            "name": t.name,
            "category": t.category,
            "description": t.description,
            "definition": t.model_dump(mode="json"),
        }
        for t in load_library(directory)
    ]
