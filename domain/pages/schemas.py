"""Request and response shapes of pages, their element trees and published versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from domain.pages.elements import MAX_NODES, Url
from domain.shared.schemas import Id, InputModel, OutputModel, PatchModel, shallow_json
from domain.shared.slugs import Slug

PageType = Literal[
    "landing",
    "optin",
    "sales",
    "order_form",
    "upsell",
    "downsell",
    "thank_you",
    "webinar",
    "generic",
]
PageStatus = Literal["draft", "published"]
Device = Literal["desktop", "tablet", "mobile"]

ELEMENTS_DESCRIPTION = (
    "Root nodes of the element tree: each {id, type, props, children}; roots are sections, "
    "sections hold rows, rows hold 1..6 columns, columns hold content elements. "
    "GET /api/v1/pages/elements/library lists every type and its props."
)
ElementTree = Annotated[list[dict[str, Any]], AfterValidator(shallow_json)]
ElementNode = Annotated[dict[str, Any], AfterValidator(shallow_json)]


class Seo(InputModel):
    """What search engines and link previews see."""

    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    og_image: Url | None = None
    noindex: bool = False


class PageIn(InputModel):
    """A new page; the slug is made from the name unless given."""

    name: str = Field(min_length=1, max_length=200)
    page_type: PageType = "generic"
    slug: Slug | None = None
    funnel_id: Id | None = None
    elements: ElementTree = Field(
        default_factory=list, max_length=MAX_NODES, description=ELEMENTS_DESCRIPTION
    )
    seo: Seo = Field(default_factory=Seo)


class PagePatch(PatchModel):
    """Fields of a page to change; version (or If-Match) guards against lost updates."""

    nullable = frozenset({"funnel_id", "version"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: Slug | None = None
    page_type: PageType | None = None
    funnel_id: Id | None = None
    elements: ElementTree | None = Field(
        default=None, max_length=MAX_NODES, description=ELEMENTS_DESCRIPTION
    )
    seo: Seo | None = None
    version: int | None = Field(default=None, ge=1, description="the page version you edited")

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent, without the version guard."""
        return self.model_dump(exclude_unset=True, exclude={"version"})


class ElementInsert(InputModel):
    """One element (with its subtree) to insert into a page's tree."""

    element: ElementNode = Field(description="a node {id?, type, props?, children?}")
    parent_id: str | None = Field(
        default=None, max_length=64, description="the parent node's id; null inserts a section"
    )
    position: int | None = Field(
        default=None,
        ge=0,
        le=MAX_NODES,
        description="index among the parent's children; null appends",
    )
    version: int | None = Field(default=None, ge=1, description="the page version you edited")


class PageSummaryOut(OutputModel):
    """A page as lists show it (without its element tree)."""

    id: uuid.UUID
    funnel_id: uuid.UUID | None
    name: str
    slug: str
    page_type: str
    status: str
    version: int
    published_version: int | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PageOut(PageSummaryOut):
    """A page with its draft element tree and SEO settings."""

    elements: ElementTree
    seo: dict[str, Any]


class PageVersionOut(OutputModel):
    """A published snapshot, by the edit version it was taken at (its HTML is not included)."""

    version: int
    live: bool = Field(description="whether this snapshot is the one visitors see now")
    created_at: datetime


class ElementTypeOut(BaseModel):
    """One element type of the library."""

    type: str
    category: str
    description: str
    children: list[str] = Field(description="element types it may contain")
    min_children: int
    max_children: int | None
    root: bool = Field(description="whether it may be a root node of a page")
    props_schema: dict[str, Any] = Field(description="JSON schema of its props")


class ElementLibraryOut(BaseModel):
    """Every element type, and the limits of a tree."""

    elements: list[ElementTypeOut]
    max_depth: int
    max_nodes: int
