"""The catalogue as a Markdown reference (docs/events.md holds it; a test keeps it current).

Regenerate with `python -m domain.events.reference`.
"""

from __future__ import annotations

from typing import Any

from domain.events import catalogue
from domain.shared.events import EventType

# Types registered by the test suite are not part of the product.
_INTERNAL_CONTEXTS = frozenset({"testing"})


def _type_of(prop: dict[str, Any]) -> str:
    """A JSON schema property as a short type name: uuid, integer, string or null, ..."""
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{value}`" for value in prop["enum"])
    if prop.get("format") == "uuid":
        return "uuid"
    return str(prop.get("type", "any"))


def _section(event_type: EventType) -> str:
    """One event type: its heading, when it fires, a table of its payload's fields."""
    schema = catalogue.schema_of(event_type)
    lines = [
        f"### `{event_type.name}`",
        "",
        f"{event_type.fires} Recorded by: {event_type.context}.",
        "",
        "| field | type | description |",
        "|---|---|---|",
    ]
    for name, prop in schema["properties"].items():
        description = prop.get("description", "")
        lines.append(f"| `{name}` | {_type_of(prop)} | {description} |")
    return "\n".join(lines)


def reference_markdown() -> str:
    """Every product event type, by name, with when it fires and its payload's fields."""
    types = [t for t in catalogue.catalogue() if t.context not in _INTERNAL_CONTEXTS]
    return "\n\n".join(_section(t) for t in types) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
