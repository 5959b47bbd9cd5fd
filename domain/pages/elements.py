"""The element library: each element's props as one typed model, and the tree rules.

A page's tree is a list of root nodes ``{"id", "type", "props", "children"}``; roots are
sections, sections hold rows, rows hold 1..6 columns, columns hold content elements.
A tree that breaks a rule is refused with InvalidElements: 422 ``validation_error`` whose
details each carry ``loc`` (path into the request body), ``node_id``, ``msg`` and ``type``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.shared.errors import InvalidInput
from domain.shared.schemas import Id
from domain.shared.slugs import Slug

NODE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_DEPTH = 4
MAX_NODES = 2000
MAX_URL = 2000
MAX_COLUMNS = 6
# Enough to point at every problem of a careless tree without building a huge answer.
MAX_ERRORS = 50

_NODE_ID = re.compile(NODE_ID_PATTERN)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})


def check_url(value: str) -> str:
    """A URL safe in href/src: http(s), mailto or relative; anything else raises ValueError."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    # Browsers drop whitespace and control characters inside a scheme ("java\tscript:"),
    # so the scheme is judged on what a browser would see, and such characters are refused.
    squeezed = _CONTROL_OR_SPACE.sub("", value).lower()
    match = _SCHEME.match(squeezed)
    if match and match.group(1) not in ALLOWED_URL_SCHEMES:
        raise ValueError("only http, https, mailto and relative URLs are allowed")
    if squeezed != value.lower() or any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace or control characters")
    return value


Url = Annotated[
    str,
    AfterValidator(check_url),
    Field(
        max_length=MAX_URL,
        description="http(s), mailto or relative URL",
        json_schema_extra={"format": "uri-reference"},
    ),
]
Align = Literal["left", "center", "right"]
Size = Literal["small", "medium", "large"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class Props(BaseModel):
    """Base of element props: strict types, unknown props refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SectionProps(Props):
    """A full-width band of the page."""

    background_color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    padding: Literal["none", "small", "medium", "large"] = "medium"
    anchor: Slug | None = None


class RowProps(Props):
    """A horizontal group of columns."""

    gap: Literal["none", "small", "medium", "large"] = "medium"


class ColumnProps(Props):
    """A column of a row; width in twelfths (None shares the row equally)."""

    width: int | None = Field(default=None, ge=1, le=12)


class HeadlineProps(Props):
    """A heading."""

    text: str = Field(min_length=1, max_length=300)
    level: int = Field(default=1, ge=1, le=6)
    align: Align = "left"


class TextProps(Props):
    """Rich text: a small HTML subset, sanitized when rendered."""

    html: str = Field(default="", max_length=20_000)
    align: Align = "left"


class ImageProps(Props):
    """An image, optionally a link."""

    src: Url
    alt: str = Field(default="", max_length=300)
    width: int | None = Field(default=None, ge=1, le=4000)
    link: Url | None = None


class VideoProps(Props):
    """A YouTube or Vimeo embed (by video id) or a video file (by URL)."""

    provider: Literal["youtube", "vimeo", "file"]
    source: str = Field(
        min_length=1,
        max_length=500,
        description="the video id for youtube and vimeo, the file's URL for file",
    )
    autoplay: bool = False
    caption: str = Field(default="", max_length=300)

    @field_validator("source")
    @classmethod
    def _source_fits_provider(cls, value: str, info: ValidationInfo) -> str:
        provider = info.data.get("provider")
        if provider == "file":
            return check_url(value)
        if not _VIDEO_ID.match(value):
            raise ValueError("must be a video id (letters, digits, '_' and '-')")
        return value


class ButtonProps(Props):
    """A call-to-action link styled as a button."""

    label: str = Field(min_length=1, max_length=100)
    href: Url
    style: Literal["primary", "secondary", "link"] = "primary"
    new_tab: bool = False
    align: Align = "left"


class FormField(Props):
    """One input of a form."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=100)
    type: Literal["text", "email", "tel", "textarea", "checkbox"] = "text"
    required: bool = False
    placeholder: str = Field(default="", max_length=100)


class FormProps(Props):
    """An opt-in form."""

    fields: list[FormField] = Field(min_length=1, max_length=20)
    submit_label: str = Field(default="Submit", min_length=1, max_length=60)

    @field_validator("fields")
    @classmethod
    def _names_unique(cls, value: list[FormField]) -> list[FormField]:
        names = [f.name for f in value]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        return value


class OrderFormProps(Props):
    """The checkout form (card entry through Stripe.js)."""

    product_id: Id | None = None
    heading: str = Field(default="Complete your order", max_length=200)
    submit_label: str = Field(default="Buy now", min_length=1, max_length=60)
    show_bumps: bool = True
    collect_phone: bool = False


# An evergreen countdown runs at most a year from the visitor's first view.
MAX_COUNTDOWN_MINUTES = 525_600


class CountdownProps(Props):
    """A timer counting down to a fixed moment, or evergreen: a duration from the first view."""

    ends_at: Annotated[AwareDatetime | None, Field(strict=False)] = None
    duration_minutes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNTDOWN_MINUTES,
        description="evergreen: minutes from the visitor's first view of the page",
    )
    label: str = Field(default="", max_length=200, description="shown above the time left")
    align: Align = "left"
    expired_text: str = Field(default="This offer has ended", max_length=200)

    @model_validator(mode="after")
    def _one_end(self) -> CountdownProps:
        if (self.ends_at is None) == (self.duration_minutes is None):
            raise ValueError("give exactly one of ends_at (a fixed end) and duration_minutes")
        return self


class TestimonialProps(Props):
    """A customer quote."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite its name

    quote: str = Field(min_length=1, max_length=2000)
    author: str = Field(min_length=1, max_length=100)
    role: str = Field(default="", max_length=100)
    avatar: Url | None = None
    rating: int | None = Field(default=None, ge=1, le=5)


class PricingProps(Props):
    """A pricing card."""

    plan: str = Field(min_length=1, max_length=100)
    price_cents: int = Field(ge=0, le=10**12)
    currency: Annotated[str, BeforeValidator(_upper), Field(pattern=r"^[A-Z]{3}$")]
    features: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=30
    )
    cta_label: str = Field(default="Get started", min_length=1, max_length=60)
    cta_href: Url = "#"
    highlighted: bool = False


class DividerProps(Props):
    """A horizontal rule."""

    style: Literal["solid", "dashed", "dotted"] = "solid"
    spacing: Size = "medium"


Category = Literal["layout", "content", "media", "conversion", "social_proof"]
CONTENT_TYPES: tuple[str, ...] = (
    "headline",
    "text",
    "image",
    "video",
    "button",
    "form",
    "order_form",
    "countdown",
    "testimonial",
    "pricing",
    "divider",
)


@dataclass(frozen=True)
class ElementType:
    """One kind of element: its props model, what it may contain, where the editor lists it."""

    name: str
    props: type[Props]
    category: Category
    children: tuple[str, ...] = ()
    min_children: int = 0
    max_children: int | None = None


ELEMENTS: dict[str, ElementType] = {
    e.name: e
    for e in (
        ElementType("section", SectionProps, "layout", ("row",)),
        ElementType("row", RowProps, "layout", ("column",), 1, MAX_COLUMNS),
        ElementType("column", ColumnProps, "layout", CONTENT_TYPES),
        ElementType("headline", HeadlineProps, "content"),
        ElementType("text", TextProps, "content"),
        ElementType("image", ImageProps, "media"),
        ElementType("video", VideoProps, "media"),
        ElementType("button", ButtonProps, "conversion"),
        ElementType("form", FormProps, "conversion"),
        ElementType("order_form", OrderFormProps, "conversion"),
        ElementType("countdown", CountdownProps, "conversion"),
        ElementType("testimonial", TestimonialProps, "social_proof"),
        ElementType("pricing", PricingProps, "conversion"),
        ElementType("divider", DividerProps, "content"),
    )
}
ROOT_TYPES: tuple[str, ...] = ("section",)


@dataclass
class Node:
    """A validated element: typed props and validated children."""

    id: str
    type: str
    props: Props
    children: list[Node] = field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        """The node as stored and answered: every key present, props with their defaults."""
        return {
            "id": self.id,
            "type": self.type,
            "props": self.props.model_dump(mode="json"),
            "children": [c.dump() for c in self.children],
        }


class InvalidElements(InvalidInput):
    """An element tree that breaks the library's rules (details point at each bad node)."""

    code = "validation_error"
    message = "The element tree is invalid"


Loc = list[str | int]


@dataclass
class _Walk:
    """What a validation pass has seen so far."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    count: int = 0

    def fail(self, loc: Loc, node_id: str | None, msg: str, kind: str = "value_error") -> None:
        """Record one problem (the first MAX_ERRORS are kept)."""
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"loc": loc, "node_id": node_id, "msg": msg, "type": kind})


def _printable(key: Any) -> str:
    """A client's key fit to echo back in an error (JSON-encodable, short)."""
    text = str(key)[:100]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "<invalid key>"
    return text


def new_node_id() -> str:
    """An id for a node the client sent without one."""
    return uuid.uuid4().hex[:12]


def _walk_node(raw: Any, loc: Loc, parent: str | None, depth: int, walk: _Walk) -> Node | None:
    """Validate one raw node under parent; None (with errors recorded) when it is invalid."""
    walk.count += 1
    if walk.count > MAX_NODES:
        if walk.count == MAX_NODES + 1:
            walk.fail(loc, None, f"a page holds at most {MAX_NODES} elements", "too_many_nodes")
        return None
    if not isinstance(raw, Mapping):
        walk.fail(loc, None, "an element must be an object", "type_error")
        return None
    node_id = raw.get("id")
    shown_id = node_id if isinstance(node_id, str) and _NODE_ID.match(node_id) else None
    ok = True
    for key in raw:
        if key not in ("id", "type", "props", "children"):
            walk.fail([*loc, _printable(key)], shown_id, "unknown field", "extra_forbidden")
            ok = False
    if node_id is None:
        node_id = new_node_id()
    elif shown_id is None:
        walk.fail([*loc, "id"], None, f"id must match {NODE_ID_PATTERN}", "string_pattern_mismatch")
        ok = False
    elif node_id in walk.ids:
        walk.fail([*loc, "id"], node_id, "duplicate element id", "duplicate_id")
        ok = False
    walk.ids.add(str(node_id))

    type_name = raw.get("type")
    allowed = ROOT_TYPES if parent is None else ELEMENTS[parent].children
    element = ELEMENTS.get(type_name) if isinstance(type_name, str) else None
    if element is None:
        walk.fail(
            [*loc, "type"],
            shown_id,
            f"unknown element type; one of: {', '.join(ELEMENTS)}",
            "unknown_type",
        )
        return None
    if type_name not in allowed:
        where = "at the root" if parent is None else f"inside a {parent}"
        expected = ", ".join(allowed) or "nothing"
        walk.fail(
            [*loc, "type"],
            shown_id,
            f"a {type_name} cannot go {where} (allowed: {expected})",
            "bad_nesting",
        )
        ok = False
    if depth > MAX_DEPTH:
        walk.fail(loc, shown_id, f"elements nest at most {MAX_DEPTH} deep", "too_deep")
        return None

    raw_props = raw.get("props")
    raw_props = {} if raw_props is None else raw_props
    props: Props | None = None
    if not isinstance(raw_props, Mapping):
        walk.fail([*loc, "props"], shown_id, "props must be an object", "type_error")
        ok = False
    else:
        try:
            props = element.props.model_validate(raw_props)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                walk.fail([*loc, "props", *err["loc"]], shown_id, err["msg"], err["type"])
            ok = False

    raw_children = raw.get("children")
    raw_children = [] if raw_children is None else raw_children
    children: list[Node] = []
    if not isinstance(raw_children, list):
        walk.fail([*loc, "children"], shown_id, "children must be a list", "type_error")
        return None
    if not element.children and raw_children:
        walk.fail([*loc, "children"], shown_id, f"a {element.name} has no children", "bad_nesting")
        return None
    if len(raw_children) < element.min_children:
        walk.fail(
            [*loc, "children"],
            shown_id,
            f"a {element.name} needs at least {element.min_children} child",
            "too_short",
        )
        ok = False
    if element.max_children is not None and len(raw_children) > element.max_children:
        walk.fail(
            [*loc, "children"],
            shown_id,
            f"a {element.name} holds at most {element.max_children} children",
            "too_long",
        )
        ok = False
    for i, raw_child in enumerate(raw_children):
        child = _walk_node(raw_child, [*loc, "children", i], element.name, depth + 1, walk)
        if child is None:
            ok = False
        else:
            children.append(child)
        if walk.count > MAX_NODES:
            return None
    if not ok or props is None:
        return None
    return Node(id=str(node_id), type=element.name, props=props, children=children)


def _raise(walk: _Walk) -> None:
    """Refuse the tree when the pass found any problem."""
    if walk.errors:
        raise InvalidElements(details=walk.errors)


def parse_tree(raw: Any, *, loc: Loc | None = None) -> list[Node]:
    """Validate a whole tree (root nodes); raises InvalidElements pointing at each bad node."""
    base: Loc = ["elements"] if loc is None else loc
    if not isinstance(raw, list):
        detail = {"loc": base, "node_id": None, "msg": "must be a list of sections"}
        raise InvalidElements(details=[{**detail, "type": "list_type"}])
    walk = _Walk()
    nodes: list[Node] = []
    for i, raw_node in enumerate(raw):
        node = _walk_node(raw_node, [*base, i], None, 1, walk)
        if node is not None:
            nodes.append(node)
        if walk.count > MAX_NODES:
            break
    _raise(walk)
    return nodes


def parse_node(raw: Any, *, parent_type: str | None, depth: int, loc: Loc) -> Node:
    """Validate one node (and its subtree) as a child of parent_type (None: a root)."""
    walk = _Walk()
    node = _walk_node(raw, loc, parent_type, depth, walk)
    _raise(walk)
    assert node is not None
    return node


def dump_tree(nodes: list[Node]) -> list[dict[str, Any]]:
    """The normalized JSON form of a validated tree."""
    return [n.dump() for n in nodes]


def normalize(raw: Any) -> list[dict[str, Any]]:
    """Validate a tree and answer its normalized JSON form (ids assigned, defaults filled)."""
    return dump_tree(parse_tree(raw))


def find(nodes: list[Node], node_id: str) -> tuple[Node, int] | None:
    """The node with this id and its depth (roots are 1), if any."""
    stack = [(n, 1) for n in nodes]
    while stack:
        node, depth = stack.pop()
        if node.id == node_id:
            return node, depth
        stack.extend((c, depth + 1) for c in node.children)
    return None


def walk_nodes(nodes: list[Node]) -> list[Node]:
    """Every node of a tree, parents before their children."""
    out: list[Node] = []
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def library() -> list[dict[str, Any]]:
    """Every element type with the JSON schema of its props, its children and its category."""
    return [
        {
            "type": e.name,
            "category": e.category,
            "description": (e.props.__doc__ or "").strip(),
            "children": list(e.children),
            "min_children": e.min_children,
            "max_children": e.max_children,
            "root": e.name in ROOT_TYPES,
            "props_schema": e.props.model_json_schema(),
        }
        for e in ELEMENTS.values()
    ]
