"""Use cases of the funnel builder: funnels, steps, publishing, versions, clone."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from domain.accounts import service as accounts
from domain.funnels import repository as repo
from domain.funnels.models import OFFER_STEP_TYPES, Funnel, FunnelStep, FunnelVersion
from domain.funnels.schemas import FunnelIn, FunnelPatch, StepIn, StepOrder, StepPatch
from domain.pages import service as pages
from domain.products import service as products
from domain.shared.db import flush_or_conflict, utcnow
from domain.shared.errors import Conflict, InvalidInput, NotFound
from domain.shared.schemas import PageParams
from domain.shared.slugs import slugify, unique_slug
from domain.shared.versions import check_version

# Which status a PATCH may move a funnel to, from each status (archived is final).
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"draft", "active", "archived"}),
    "active": frozenset({"active", "paused", "archived"}),
    "paused": frozenset({"paused", "active", "archived"}),
    "archived": frozenset({"archived"}),
}
# Steps that are not pages of their own: a bump is offered on the order form before it.
PAGELESS_STEP_TYPES = frozenset({"order_bump"})
# Offers charged to the card saved by an earlier order form.
ONE_CLICK_STEP_TYPES = frozenset({"upsell", "downsell", "order_bump"})


def get(session: Session, *, account_id: uuid.UUID, funnel_id: uuid.UUID) -> Funnel:
    """One of the account's funnels, or 404."""
    funnel = repo.get(session, account_id, funnel_id)
    if funnel is None:
        raise NotFound("Funnel not found")
    return funnel


def owners(session: Session, funnel_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The account of each existing funnel among funnel_ids (one query; unknown ids absent)."""
    return repo.owners(session, funnel_ids)


def steps(session: Session, funnel: Funnel) -> list[FunnelStep]:
    """A funnel's steps in order."""
    return repo.steps_of(session, funnel.id)


def list_funnels(
    session: Session,
    *,
    account_id: uuid.UUID,
    page: PageParams,
    status: str | None = None,
    funnel_type: str | None = None,
    search: str | None = None,
) -> tuple[list[Funnel], int]:
    """A page of the account's funnels."""
    return repo.list_funnels(
        session, account_id, page, status=status, funnel_type=funnel_type, search=search
    )


def _for_write(
    session: Session, account_id: uuid.UUID, funnel_id: uuid.UUID, *expected: int | None
) -> Funnel:
    """The funnel locked for this transaction, after checking the caller's version."""
    funnel = repo.get(session, account_id, funnel_id, for_update=True)
    if funnel is None:
        raise NotFound("Funnel not found")
    if funnel.status == "archived":
        raise Conflict("An archived funnel cannot change", code="funnel_archived")
    check_version(funnel.version, *expected, what="funnel")
    return funnel


def _touch(funnel: Funnel) -> None:
    """Count one more edit of the funnel (itself or its steps)."""
    funnel.version += 1
    funnel.updated_at = utcnow()


def _free_slug(session: Session, account_id: uuid.UUID, wanted: str | None, name: str) -> str:
    """The slug asked for (409 if taken), or one made from the name that is free."""
    if wanted is not None:
        if repo.slug_taken(session, account_id, wanted):
            raise Conflict(f"Slug {wanted!r} is taken by another funnel", code="slug_taken")
        return wanted
    base = slugify(name, fallback="funnel")
    return unique_slug(base, repo.slugs_like(session, account_id, base))


def _check_references(
    session: Session, account_id: uuid.UUID, step_type: str, values: dict[str, Any]
) -> None:
    """The step's page and products must be the account's; products only on offer steps."""
    problems: list[dict[str, Any]] = []
    page_id = values.get("page_id")
    if page_id is not None and not pages.existing_ids(
        session, account_id=account_id, page_ids=[page_id]
    ):
        problems.append({"loc": ["body", "page_id"], "msg": "no such page in this account"})
    product_id = values.get("product_id")
    bumps = list(values.get("bump_product_ids") or [])
    if product_id is not None and step_type not in OFFER_STEP_TYPES:
        problems.append({"loc": ["body", "product_id"], "msg": f"a {step_type} step sells nothing"})
    if bumps and step_type != "order_form":
        problems.append(
            {"loc": ["body", "bump_product_ids"], "msg": "only an order_form carries bumps"}
        )
    wanted = [p for p in [product_id, *bumps] if p is not None]
    known = products.existing_ids(session, account_id=account_id, product_ids=wanted)
    if product_id is not None and product_id not in known:
        problems.append({"loc": ["body", "product_id"], "msg": "no such product in this account"})
    for i, bump in enumerate(bumps):
        if bump not in known:
            problems.append(
                {"loc": ["body", "bump_product_ids", i], "msg": "no such product in this account"}
            )
    if problems:
        raise InvalidInput("The step refers to something it cannot use", details=problems)


def _new_step(
    session: Session, funnel: Funnel, data: StepIn, position: int, taken: set[str]
) -> FunnelStep:
    """A step row for data at position, with a slug unique within the funnel."""
    values = data.model_dump(exclude={"position"})
    _check_references(session, funnel.account_id, data.step_type, values)
    if data.slug is not None and data.slug in taken:
        raise Conflict(f"Step slug {data.slug!r} is taken in this funnel", code="slug_taken")
    values["slug"] = data.slug or unique_slug(slugify(data.name, fallback="step"), taken)
    taken.add(values["slug"])
    values["bump_product_ids"] = [str(p) for p in data.bump_product_ids]
    step = FunnelStep(
        id=uuid.uuid4(), account_id=funnel.account_id, funnel_id=funnel.id, position=position
    )
    for field, value in values.items():
        setattr(step, field, value)
    return step


def create(session: Session, *, account_id: uuid.UUID, data: FunnelIn) -> Funnel:
    """A new draft funnel with the steps given, in that order."""
    funnel = Funnel(
        id=uuid.uuid4(),
        account_id=account_id,
        name=data.name,
        slug=_free_slug(session, account_id, data.slug, data.name),
        funnel_type=data.funnel_type,
        description=data.description,
        settings=data.settings,
        status="draft",
        version=1,
    )
    session.add(funnel)
    flush_or_conflict(session, "That funnel slug was just taken", "slug_taken")
    taken: set[str] = set()
    for position, step_in in enumerate(data.steps):
        session.add(_new_step(session, funnel, step_in, position, taken))
    session.flush()
    return funnel


def update(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    data: FunnelPatch,
    expected_version: int | None = None,
    user_id: uuid.UUID | None = None,
) -> Funnel:
    """Change the fields sent; a move to status=active publishes the funnel."""
    changes = data.changes()
    funnel = _for_write(
        session, account_id, funnel_id, changes.pop("version", None), expected_version
    )
    status = changes.pop("status", None)
    if status is not None and status not in TRANSITIONS[funnel.status]:
        raise Conflict(
            f"A {funnel.status} funnel cannot become {status}",
            code="invalid_status_transition",
            details=[{"from": funnel.status, "to": status}],
        )
    if "slug" in changes and repo.slug_taken(
        session, account_id, changes["slug"], other_than=funnel.id
    ):
        raise Conflict(f"Slug {changes['slug']!r} is taken by another funnel", code="slug_taken")
    edited = {k: v for k, v in changes.items() if getattr(funnel, k) != v}
    for field, value in edited.items():
        setattr(funnel, field, value)
    if edited or (status is not None and status != funnel.status):
        _touch(funnel)
    if status == "archived":
        archive_locked(funnel)
    elif status == "active":
        _publish(session, funnel, user_id)
    elif status is not None:
        funnel.status = status
    flush_or_conflict(session, "That funnel slug was just taken", "slug_taken")
    return funnel


def archive_locked(funnel: Funnel) -> None:
    """Archive a funnel already locked by this transaction."""
    funnel.status = "archived"
    funnel.archived_at = utcnow()


def archive(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    expected_version: int | None = None,
) -> None:
    """Archive: visitors no longer see it; it stays readable, and can be cloned."""
    funnel = repo.get(session, account_id, funnel_id, for_update=True)
    if funnel is None:
        raise NotFound("Funnel not found")
    if funnel.status == "archived":
        return
    check_version(funnel.version, expected_version, what="funnel")
    _touch(funnel)
    archive_locked(funnel)


def publish_problems(
    session: Session, funnel: Funnel, steps: list[FunnelStep]
) -> list[dict[str, Any]]:
    """Everything that keeps a funnel from going live (empty when it is complete)."""
    problems: list[dict[str, Any]] = []
    if not steps:
        return [{"loc": ["steps"], "msg": "a funnel needs at least one step"}]
    page_ids = [s.page_id for s in steps if s.page_id is not None]
    known_pages = pages.existing_ids(session, account_id=funnel.account_id, page_ids=page_ids)
    wanted = [uuid.UUID(str(p)) for s in steps for p in [s.product_id, *s.bump_product_ids] if p]
    sellable = products.existing_ids(
        session, account_id=funnel.account_id, product_ids=wanted, sellable=True
    )
    seen_order_form = False
    for i, step in enumerate(steps):
        where = {"step_id": str(step.id), "step": step.slug}
        if step.step_type not in PAGELESS_STEP_TYPES and (
            step.page_id is None or step.page_id not in known_pages
        ):
            problems.append(
                {"loc": ["steps", i, "page_id"], **where, "msg": "the step has no page"}
            )
        if step.step_type in OFFER_STEP_TYPES:
            if step.product_id is None:
                problems.append(
                    {"loc": ["steps", i, "product_id"], **where, "msg": "the offer has no product"}
                )
            elif step.product_id not in sellable:
                problems.append(
                    {
                        "loc": ["steps", i, "product_id"],
                        **where,
                        "msg": "the offer's product is archived or inactive",
                    }
                )
        for j, bump in enumerate(step.bump_product_ids):
            if uuid.UUID(str(bump)) not in sellable:
                problems.append(
                    {
                        "loc": ["steps", i, "bump_product_ids", j],
                        **where,
                        "msg": "the bump's product is archived, inactive or gone",
                    }
                )
        if step.step_type in ONE_CLICK_STEP_TYPES and not seen_order_form:
            problems.append(
                {
                    "loc": ["steps", i, "step_type"],
                    **where,
                    "msg": f"a {step.step_type} needs an order_form step before it",
                }
            )
        seen_order_form = seen_order_form or step.step_type == "order_form"
    return problems


def _snapshot(
    funnel: Funnel, steps: list[FunnelStep], page_versions: dict[uuid.UUID, int]
) -> dict[str, Any]:
    """The published form of a funnel: its fields, and each step with its page's version."""
    return {
        "name": funnel.name,
        "slug": funnel.slug,
        "funnel_type": funnel.funnel_type,
        "description": funnel.description,
        "settings": funnel.settings,
        "steps": [
            {
                "id": str(s.id),
                "position": s.position,
                "name": s.name,
                "slug": s.slug,
                "step_type": s.step_type,
                "page_id": str(s.page_id) if s.page_id else None,
                "page_version": page_versions.get(s.page_id) if s.page_id else None,
                "product_id": str(s.product_id) if s.product_id else None,
                "bump_product_ids": [str(p) for p in s.bump_product_ids],
                "settings": s.settings,
            }
            for s in steps
        ],
    }


def _publish(session: Session, funnel: Funnel, user_id: uuid.UUID | None) -> None:
    """Check the funnel is complete, publish its pages, and snapshot it at its version."""
    steps = repo.steps_of(session, funnel.id)
    problems = publish_problems(session, funnel, steps)
    if problems:
        raise InvalidInput(
            "The funnel is not ready to publish", code="funnel_incomplete", details=problems
        )
    page_versions: dict[uuid.UUID, int] = {}
    for page_id in dict.fromkeys(s.page_id for s in steps if s.page_id is not None):
        page = pages.publish(session, account_id=funnel.account_id, page_id=page_id)
        assert page.published_version is not None
        page_versions[page_id] = page.published_version
    funnel.status = "active"
    if repo.get_version(session, funnel.id, funnel.version) is None:
        repo.add_version(
            session,
            FunnelVersion(
                id=uuid.uuid4(),
                account_id=funnel.account_id,
                funnel_id=funnel.id,
                version=funnel.version,
                snapshot=_snapshot(funnel, steps, page_versions),
                published_by=user_id,
            ),
        )
    funnel.published_version = funnel.version
    funnel.published_at = utcnow()


# --- steps ------------------------------------------------------------------------------


def add_step(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    data: StepIn,
    expected_version: int | None = None,
) -> FunnelStep:
    """Insert a step at data.position (default: the end), moving later steps along."""
    funnel = _for_write(session, account_id, funnel_id, expected_version)
    existing = repo.steps_of(session, funnel.id)
    if len(existing) >= 50:
        raise InvalidInput("A funnel has at most 50 steps", code="too_many_steps")
    position = len(existing) if data.position is None else min(data.position, len(existing))
    step = _new_step(session, funnel, data, position, {s.slug for s in existing})
    repo.shift_steps(session, funnel.id, from_position=position, by=1)
    session.add(step)
    _touch(funnel)
    session.flush()
    return step


def update_step(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    step_id: uuid.UUID,
    data: StepPatch,
    expected_version: int | None = None,
) -> FunnelStep:
    """Change the fields of a step that were sent."""
    changes = data.changes()
    funnel = _for_write(
        session, account_id, funnel_id, changes.pop("version", None), expected_version
    )
    step = repo.get_step(session, account_id, funnel.id, step_id)
    if step is None:
        raise NotFound("Step not found")
    merged = {
        "page_id": step.page_id,
        "product_id": step.product_id,
        "bump_product_ids": [uuid.UUID(str(p)) for p in step.bump_product_ids],
        **changes,
    }
    _check_references(session, account_id, changes.get("step_type", step.step_type), merged)
    if changes.get("slug", step.slug) != step.slug and changes["slug"] in {
        s.slug for s in repo.steps_of(session, funnel.id)
    }:
        raise Conflict(f"Step slug {changes['slug']!r} is taken in this funnel", code="slug_taken")
    if "bump_product_ids" in changes:
        changes["bump_product_ids"] = [str(p) for p in changes["bump_product_ids"]]
    for field, value in changes.items():
        setattr(step, field, value)
    if changes:
        _touch(funnel)
    session.flush()
    return step


def delete_step(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    step_id: uuid.UUID,
    expected_version: int | None = None,
) -> None:
    """Remove a step and close the gap it leaves in the order."""
    funnel = _for_write(session, account_id, funnel_id, expected_version)
    step = repo.get_step(session, account_id, funnel.id, step_id)
    if step is None:
        raise NotFound("Step not found")
    position = step.position
    session.delete(step)
    session.flush()
    repo.shift_steps(session, funnel.id, from_position=position + 1, by=-1)
    _touch(funnel)


def reorder_steps(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    data: StepOrder,
    expected_version: int | None = None,
) -> list[FunnelStep]:
    """Put the steps in the order given; the list must name every step exactly once."""
    funnel = _for_write(session, account_id, funnel_id, data.version, expected_version)
    existing = {s.id: s for s in repo.steps_of(session, funnel.id)}
    given = data.step_ids
    problems: list[dict[str, Any]] = []
    duplicates = sorted({str(i) for i in given if given.count(i) > 1})
    if duplicates:
        problems.append(
            {"loc": ["body", "step_ids"], "msg": "steps named twice", "step_ids": duplicates}
        )
    unknown = sorted(str(i) for i in set(given) - existing.keys())
    if unknown:
        problems.append(
            {"loc": ["body", "step_ids"], "msg": "not steps of this funnel", "step_ids": unknown}
        )
    missing = sorted(str(i) for i in existing.keys() - set(given))
    if missing:
        problems.append({"loc": ["body", "step_ids"], "msg": "steps left out", "step_ids": missing})
    if problems:
        raise InvalidInput(
            "The order must name every step of the funnel exactly once",
            code="invalid_step_order",
            details=problems,
        )
    ordered = [existing[i] for i in given]
    if any(step.position != n for n, step in enumerate(ordered)):
        for n, step in enumerate(ordered):
            step.position = n
        _touch(funnel)
    session.flush()
    return ordered


# --- versions ---------------------------------------------------------------------------


def list_versions(
    session: Session, *, account_id: uuid.UUID, funnel_id: uuid.UUID, page: PageParams
) -> tuple[Funnel, list[FunnelVersion], int]:
    """The funnel and a page of its published snapshots, newest first."""
    funnel = get(session, account_id=account_id, funnel_id=funnel_id)
    rows, total = repo.list_versions(session, funnel.id, page)
    return funnel, rows, total


def restore_version(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    version: int,
    expected_version: int | None = None,
) -> Funnel:
    """Make a published snapshot the draft again (a new edit version); the live one stays."""
    funnel = _for_write(session, account_id, funnel_id, expected_version)
    snapshot = repo.get_version(session, funnel.id, version)
    if snapshot is None:
        raise NotFound(f"The funnel was never published at version {version}")
    data = snapshot.snapshot
    funnel.name = data["name"]
    funnel.funnel_type = data["funnel_type"]
    funnel.description = data["description"]
    funnel.settings = data["settings"]
    repo.delete_steps(session, funnel.id)
    page_ids = [uuid.UUID(s["page_id"]) for s in data["steps"] if s["page_id"]]
    alive = pages.existing_ids(session, account_id=account_id, page_ids=page_ids)
    for s in data["steps"]:
        page_id = uuid.UUID(s["page_id"]) if s["page_id"] else None
        session.add(
            FunnelStep(
                id=uuid.UUID(s["id"]),
                account_id=account_id,
                funnel_id=funnel.id,
                position=s["position"],
                name=s["name"],
                slug=s["slug"],
                step_type=s["step_type"],
                page_id=page_id if page_id in alive else None,
                product_id=uuid.UUID(s["product_id"]) if s["product_id"] else None,
                bump_product_ids=s["bump_product_ids"],
                settings=s["settings"],
            )
        )
    _touch(funnel)
    session.flush()
    return funnel


# --- clone ------------------------------------------------------------------------------


def clone(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    name: str | None = None,
    slug: str | None = None,
) -> Funnel:
    """A deep copy as a new draft: its steps, and a copy of each page they use."""
    source = get(session, account_id=account_id, funnel_id=funnel_id)
    copy_name = name or f"{source.name} (copy)"[:200]
    if slug is None:
        base = f"{source.slug}-copy"[:90]
        slug = unique_slug(base, repo.slugs_like(session, account_id, base))
    copy = Funnel(
        id=uuid.uuid4(),
        account_id=account_id,
        name=copy_name,
        slug=_free_slug(session, account_id, slug, copy_name),
        funnel_type=source.funnel_type,
        description=source.description,
        settings=dict(source.settings),
        status="draft",
        version=1,
    )
    session.add(copy)
    flush_or_conflict(session, "That funnel slug was just taken", "slug_taken")
    page_copies: dict[uuid.UUID, uuid.UUID] = {}
    for step in repo.steps_of(session, source.id):
        if step.page_id is not None and step.page_id not in page_copies:
            page = pages.copy(
                session, account_id=account_id, page_id=step.page_id, funnel_id=copy.id
            )
            page_copies[step.page_id] = page.id
        session.add(
            FunnelStep(
                id=uuid.uuid4(),
                account_id=account_id,
                funnel_id=copy.id,
                position=step.position,
                name=step.name,
                slug=step.slug,
                step_type=step.step_type,
                page_id=page_copies.get(step.page_id) if step.page_id else None,
                product_id=step.product_id,
                bump_product_ids=list(step.bump_product_ids),
                settings=dict(step.settings),
            )
        )
    session.flush()
    return copy


def live_funnel_ids_using_page(
    session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID
) -> list[uuid.UUID]:
    """Active funnels whose draft or published snapshot uses this page (such a page may be
    neither deleted nor unpublished: visitors would meet a 404 on a live step). A paused
    funnel holds no page: resuming it publishes its draft, pages included, again."""
    return repo.live_funnel_ids_using_page(session, account_id, page_id)


def _live_snapshot(session: Session, funnel: Funnel | None) -> dict[str, Any] | None:
    """What visitors see of a funnel: its last published snapshot, while it is active."""
    if funnel is None or funnel.status != "active" or funnel.published_version is None:
        return None
    version = repo.get_version(session, funnel.id, funnel.published_version)
    return version.snapshot if version is not None else None


@dataclass(frozen=True)
class LiveStep:
    """One page step of a live funnel as visitors are served it (from the last publish)."""

    account_id: uuid.UUID
    funnel_id: uuid.UUID
    funnel_slug: str
    step: dict[str, Any]
    steps: list[dict[str, Any]]
    html: str


def live_step(
    session: Session, *, account_slug: str, funnel_slug: str, step_slug: str | None
) -> LiveStep:
    """A live funnel's page step (its first page step by default) with its published HTML.

    Reads the snapshot taken at the last publish, never the draft; `steps` are the
    snapshot's steps in order, so callers can find the step after this one.
    """
    account_id = accounts.account_id_for_slug(session, account_slug)
    funnel = repo.get_active_by_slug(session, account_id, funnel_slug) if account_id else None
    snapshot = _live_snapshot(session, funnel)
    if account_id is None or funnel is None or snapshot is None:
        raise NotFound("No such funnel")
    steps = [s for s in snapshot["steps"] if s["page_id"] and s["page_version"]]
    step = next((s for s in steps if s["slug"] == step_slug), None) if step_slug else steps[0]
    html = (
        pages.published_html(
            session,
            account_id=account_id,
            page_id=uuid.UUID(step["page_id"]),
            version=step["page_version"],
        )
        if step is not None
        else None
    )
    if step is None or html is None:
        raise NotFound("No such step")
    return LiveStep(account_id, funnel.id, funnel.slug, step, steps, html)


def live_page_html(
    session: Session, *, account_slug: str, funnel_slug: str, step_slug: str | None
) -> str:
    """The published HTML of a live funnel's step (its first page step by default)."""
    return live_step(
        session, account_slug=account_slug, funnel_slug=funnel_slug, step_slug=step_slug
    ).html


def live_offer(
    session: Session, *, account_id: uuid.UUID, funnel_id: uuid.UUID, step_id: uuid.UUID
) -> dict[str, Any]:
    """An offer step as visitors see it (from the live snapshot): step_type, product, bumps.

    404 unless the funnel is active and the step is an offer step of its published version.
    """
    snapshot = _live_snapshot(session, repo.get(session, account_id, funnel_id))
    if snapshot is None:
        raise NotFound("No live funnel with that id")
    step = next((s for s in snapshot["steps"] if s["id"] == str(step_id)), None)
    if step is None or step["step_type"] not in OFFER_STEP_TYPES or not step["product_id"]:
        raise NotFound("No offer step with that id in the live funnel")
    return {
        "step_id": step_id,
        "step_type": step["step_type"],
        "product_id": uuid.UUID(step["product_id"]),
        "bump_product_ids": [uuid.UUID(p) for p in step["bump_product_ids"]],
    }


def step_types(
    session: Session, *, account_id: uuid.UUID, step_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Step id -> step type for these steps of the account (analytics' step goals)."""
    return repo.step_types(session, account_id, step_ids) if step_ids else {}
