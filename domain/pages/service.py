"""Use cases of pages: CRUD with edit versions, element inserts, publish, preview, versions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from copy import deepcopy
from typing import Any

from sqlalchemy.orm import Session

from domain.pages import repository as repo
from domain.pages.elements import Loc, dump_tree, find, parse_node, parse_tree
from domain.pages.models import Page, PageVersion
from domain.pages.render import RenderDevice, render_nodes, render_page
from domain.pages.schemas import ElementInsert, PageIn, PagePatch, Seo
from domain.shared.db import flush_or_conflict, utcnow
from domain.shared.errors import Conflict, InvalidInput, NotFound
from domain.shared.schemas import PageParams
from domain.shared.slugs import slugify, unique_slug
from domain.shared.versions import check_version


def get(session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID) -> Page:
    """One of the account's pages, or 404."""
    page = repo.get(session, account_id, page_id)
    if page is None:
        raise NotFound("Page not found")
    return page


def existing_ids(
    session: Session, *, account_id: uuid.UUID, page_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these ids are pages of the account."""
    return repo.existing_ids(session, account_id, page_ids)


def lock_pages(
    session: Session, *, account_id: uuid.UUID, page_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Page]:
    """The account's pages among these, locked in id order (so a concurrent delete or
    unpublish waits for the caller's transaction, then sees what it did)."""
    found: dict[uuid.UUID, Page] = {}
    for page_id in sorted(set(page_ids)):
        page = repo.get(session, account_id, page_id, for_update=True)
        if page is not None:
            found[page_id] = page
    return found


def list_pages(
    session: Session,
    *,
    account_id: uuid.UUID,
    page: PageParams,
    funnel_id: uuid.UUID | None = None,
    status: str | None = None,
    page_type: str | None = None,
) -> tuple[list[Page], int]:
    """A page of the account's pages."""
    return repo.list_pages(
        session, account_id, page, funnel_id=funnel_id, status=status, page_type=page_type
    )


def _locked(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID, *expected: int | None
) -> Page:
    """The page locked for this transaction, after checking the caller's version against it."""
    page = repo.get(session, account_id, page_id, for_update=True)
    if page is None:
        raise NotFound("Page not found")
    check_version(page.version, *expected, what="page")
    return page


def _touch(page: Page) -> None:
    """Count one more edit of the page."""
    page.version += 1
    page.updated_at = utcnow()


def _free_slug(
    session: Session,
    account_id: uuid.UUID,
    wanted: str | None,
    name: str,
    *,
    exclude: uuid.UUID | None = None,
) -> str:
    """The slug asked for (409 slug_taken if another page has it), or a free one from name."""
    if wanted is not None:
        if repo.slug_taken(session, account_id, wanted, exclude=exclude):
            raise Conflict(f"Slug {wanted!r} is taken by another page", code="slug_taken")
        return wanted
    base = slugify(name, fallback="page")
    return unique_slug(base, repo.slugs_like(session, account_id, base, exclude=exclude))


def _check_funnel(session: Session, account_id: uuid.UUID, funnel_id: uuid.UUID | None) -> None:
    """A page may only belong to one of the caller's funnels (422 funnel_not_found)."""
    if funnel_id is not None and not repo.funnel_exists(session, account_id, funnel_id):
        raise InvalidInput(
            "No such funnel in this account",
            code="funnel_not_found",
            details=[{"loc": ["funnel_id"], "msg": "no funnel with this id"}],
        )


def create(session: Session, *, account_id: uuid.UUID, data: PageIn) -> Page:
    """Add a draft page at version 1 (its tree validated; 422 funnel_not_found, 409 slug_taken)."""
    elements = dump_tree(parse_tree(data.elements))
    _check_funnel(session, account_id, data.funnel_id)
    page = Page(
        id=uuid.uuid4(),
        account_id=account_id,
        funnel_id=data.funnel_id,
        name=data.name,
        slug=_free_slug(session, account_id, data.slug, data.name),
        page_type=data.page_type,
        status="draft",
        elements=elements,
        seo=data.seo.model_dump(mode="json"),
        version=1,
    )
    session.add(page)
    flush_or_conflict(session, "That page slug was just taken", "slug_taken")
    return page


def update(
    session: Session,
    *,
    account_id: uuid.UUID,
    page_id: uuid.UUID,
    data: PagePatch,
    if_match: int | None = None,
) -> Page:
    """Change the fields sent; +1 version, or 409 version_conflict when based on a stale one."""
    page = _locked(session, account_id, page_id, data.version, if_match)
    changes = data.changes()
    if "elements" in changes:
        page.elements = dump_tree(parse_tree(changes["elements"]))
    if "seo" in changes:
        assert data.seo is not None
        page.seo = data.seo.model_dump(mode="json")
    if "funnel_id" in changes:
        _check_funnel(session, account_id, data.funnel_id)
        page.funnel_id = data.funnel_id
    if "slug" in changes:
        assert data.slug is not None
        page.slug = _free_slug(session, account_id, data.slug, page.name, exclude=page.id)
    for field in ("name", "page_type"):
        if field in changes:
            setattr(page, field, changes[field])
    if changes:
        _touch(page)
    flush_or_conflict(session, "That page slug was just taken", "slug_taken")
    return page


def _children_of(tree: list[dict[str, Any]], parent_id: str) -> list[dict[str, Any]] | None:
    """The children list of the stored node with this id."""
    stack = list(tree)
    while stack:
        node = stack.pop()
        if node["id"] == parent_id:
            children: list[dict[str, Any]] = node["children"]
            return children
        stack.extend(node["children"])
    return None


def insert_element(
    session: Session,
    *,
    account_id: uuid.UUID,
    page_id: uuid.UUID,
    data: ElementInsert,
    if_match: int | None = None,
) -> Page:
    """Insert one element (and its subtree) under parent_id at position; +1 version."""
    page = _locked(session, account_id, page_id, data.version, if_match)
    nodes = parse_tree(page.elements)
    if data.parent_id is None:
        parent_type, depth = None, 1
    else:
        found = find(nodes, data.parent_id)
        if found is None:
            raise InvalidInput(
                "No element with that id on this page",
                code="validation_error",
                details=[
                    {"loc": ["parent_id"], "msg": "no element with this id", "type": "missing"}
                ],
            )
        parent_type, depth = found[0].type, found[1] + 1
    element_loc: Loc = ["element"]
    node = parse_node(data.element, parent_type=parent_type, depth=depth, loc=element_loc)
    tree = dump_tree(nodes)
    siblings = tree if data.parent_id is None else _children_of(tree, data.parent_id)
    assert siblings is not None
    position = len(siblings) if data.position is None else min(data.position, len(siblings))
    siblings.insert(position, node.dump())
    # The whole tree again: ids must stay unique and a row may not outgrow its columns.
    page.elements = dump_tree(parse_tree(tree))
    _touch(page)
    session.flush()
    return page


# Another context that serves pages (a running split test) registers a check saying what
# holds a page, as details such as {"ab_test_id": ...}: pages need not import that context.
PageHold = Callable[[Session, uuid.UUID, uuid.UUID], list[dict[str, str]]]
_holds: list[PageHold] = []


def register_page_hold(check: PageHold) -> PageHold:
    """Register check(session, account_id, page_id) -> what holds the page (empty: nothing)."""
    if check not in _holds:
        _holds.append(check)
    return check


def _refuse_if_live(session: Session, account_id: uuid.UUID, page_id: uuid.UUID) -> None:
    """409 page_in_use while an active funnel uses the page (its draft or its live snapshot)
    or a registered hold (a running split test) serves it."""
    from domain.funnels import service as funnels  # funnels.service imports this module

    live = funnels.live_funnel_ids_using_page(session, account_id=account_id, page_id=page_id)
    if live:
        raise Conflict(
            "An active funnel uses this page; remove it from the funnel and publish the funnel"
            " again, or pause the funnel first",
            code="page_in_use",
            details=[{"funnel_id": str(funnel_id)} for funnel_id in live],
        )
    held = [detail for check in _holds for detail in check(session, account_id, page_id)]
    if held:
        raise Conflict(
            "A running or paused split test serves this page; complete the test first",
            code="page_in_use",
            details=held,
        )


def delete(session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID) -> None:
    """Delete a page and its stored assets; 409 page_in_use while an active funnel shows it."""
    page = _locked(session, account_id, page_id)
    _refuse_if_live(session, account_id, page_id)
    # Function-level: the asset store pulls in the storage backends only where it is needed.
    from domain.pages import assets

    assets.delete_all_for_page(session, account_id=account_id, page_id=page_id)
    session.delete(page)
    session.flush()


def publish(session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID) -> Page:
    """Validate, render and snapshot the draft at its version, and make it live."""
    page = _locked(session, account_id, page_id)
    if page.status == "published" and page.published_version == page.version:
        return page
    if repo.get_version(session, account_id, page.id, page.version) is None:
        nodes = parse_tree(page.elements)
        html = render_nodes(nodes, name=page.name, seo=Seo.model_validate(page.seo, strict=False))
        session.add(
            PageVersion(
                id=uuid.uuid4(),
                account_id=account_id,
                page_id=page.id,
                version=page.version,
                elements=deepcopy(page.elements),
                seo=dict(page.seo),
                html=html,
            )
        )
    page.status = "published"
    page.published_version = page.version
    page.published_at = utcnow()
    session.flush()
    return page


def unpublish(session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID) -> Page:
    """Take the page offline (its published versions stay); 409 not_published if it is not
    live, 409 page_in_use while an active funnel serves it."""
    page = _locked(session, account_id, page_id)
    if page.status != "published":
        raise Conflict("The page is not published", code="not_published")
    _refuse_if_live(session, account_id, page_id)
    page.status = "draft"
    page.updated_at = utcnow()
    session.flush()
    return page


def preview(
    session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID, device: RenderDevice
) -> str:
    """The draft rendered as a full HTML document, sized for device."""
    page = get(session, account_id=account_id, page_id=page_id)
    return render_page(name=page.name, elements=page.elements, seo=page.seo, device=device)


def list_versions(
    session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID, page: PageParams
) -> tuple[Page, list[PageVersion], int]:
    """The page and a page of its published snapshots, newest first."""
    owner = get(session, account_id=account_id, page_id=page_id)
    rows, total = repo.list_versions(session, account_id, page_id, page)
    return owner, rows, total


def restore_version(
    session: Session,
    *,
    account_id: uuid.UUID,
    page_id: uuid.UUID,
    version: int,
    if_match: int | None = None,
) -> Page:
    """Make a published snapshot the draft again, as a new version; what is live stays live."""
    page = _locked(session, account_id, page_id, if_match)
    snapshot = repo.get_version(session, account_id, page_id, version)
    if snapshot is None:
        raise NotFound(f"Page version {version} not found")
    page.elements = deepcopy(snapshot.elements)
    page.seo = dict(snapshot.seo)
    _touch(page)
    session.flush()
    return page


def copy(
    session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID, funnel_id: uuid.UUID | None
) -> Page:
    """A draft copy of a page (same tree and SEO, a new free slug), optionally in a funnel."""
    source = get(session, account_id=account_id, page_id=page_id)
    _check_funnel(session, account_id, funnel_id)
    page = Page(
        id=uuid.uuid4(),
        account_id=account_id,
        funnel_id=funnel_id,
        name=source.name,
        slug=unique_slug(source.slug, repo.slugs_like(session, account_id, source.slug)),
        page_type=source.page_type,
        status="draft",
        elements=deepcopy(source.elements),
        seo=dict(source.seo),
        version=1,
    )
    session.add(page)
    flush_or_conflict(session, "That page slug was just taken", "slug_taken")
    return page


def published_html(
    session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID, version: int
) -> str | None:
    """The HTML a page was published with at that version, while the page is published."""
    page = repo.get(session, account_id, page_id)
    if page is None or page.status != "published":
        return None
    snapshot = repo.get_version(session, account_id, page_id, version)
    return snapshot.html if snapshot is not None else None
