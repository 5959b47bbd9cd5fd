"""Use cases of the template library: list it, build a funnel and its pages from one."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from domain.accounts import repository as accounts_repo
from domain.funnels import repository as repo
from domain.funnels import service as funnels
from domain.funnels.library import TemplateDefinition, library_rows
from domain.funnels.models import Funnel, FunnelTemplate
from domain.funnels.schemas import FromTemplateIn, FunnelIn, StepIn, TemplateOut
from domain.pages import service as pages
from domain.pages.schemas import PageIn
from domain.products import service as products
from domain.products.schemas import ProductIn
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.schemas import PageParams


def sync_library(session: Session) -> None:
    """Insert the shipped templates, or refresh them by key."""
    repo.upsert_templates(session, library_rows())


def template_out(row: FunnelTemplate) -> TemplateOut:
    """A template as the library endpoint shows it."""
    definition = TemplateDefinition.model_validate(row.definition)
    return TemplateOut.model_validate(
        {
            "id": row.id,
            "key": row.key,
            "name": row.name,
            "category": row.category,
            "description": row.description,
            "steps": [s.model_dump() for s in definition.steps],
            "offers": [{"key": k, **o.model_dump()} for k, o in definition.offers.items()],
        }
    )


def list_templates(
    session: Session, *, page: PageParams, category: str | None = None
) -> tuple[list[FunnelTemplate], int]:
    """A page of the library, by category."""
    return repo.list_templates(session, page, category=category)


def _offer_products(
    session: Session,
    account_id: uuid.UUID,
    template: TemplateDefinition,
    mapping: dict[str, uuid.UUID],
) -> dict[str, uuid.UUID]:
    """Each offer key → a product: the caller's mapped one, or a sample made now."""
    problems: list[dict[str, Any]] = []
    for key in mapping:
        if key not in template.offers:
            problems.append(
                {"loc": ["body", "product_map", key], "msg": "the template has no such offer"}
            )
    sellable = products.existing_ids(
        session, account_id=account_id, product_ids=list(mapping.values()), sellable=True
    )
    for key, product_id in mapping.items():
        if key in template.offers and product_id not in sellable:
            problems.append(
                {"loc": ["body", "product_map", key], "msg": "no active product with that id"}
            )
    if problems:
        raise InvalidInput("The product map does not fit the template", details=problems)
    resolved = dict(mapping)
    for key, offer in template.offers.items():
        if key not in resolved:
            sample = products.create(
                session,
                account_id=account_id,
                data=ProductIn(
                    name=offer.name,
                    description=f"{offer.description} (sample made from a template)".strip(),
                    price_cents=offer.price_cents,
                    currency=offer.currency,
                ),
            )
            resolved[key] = sample.id
    return resolved


def _step_links(
    session: Session, account_id: uuid.UUID, funnel_slug: str, template: TemplateDefinition
) -> dict[str, str]:
    """Each step slug of the template → the live URL of that step of the new funnel."""
    account = accounts_repo.get_account(session, account_id)
    assert account is not None  # the caller's own account
    return {s.slug: f"/f/{account.slug}/{funnel_slug}/{s.slug}" for s in template.steps}


def _link_steps(tree: Any, links: dict[str, str]) -> Any:
    """The tree with each button or pricing link that names a step slug pointed at that step.

    A template cannot know its funnel's URL, and a link relative to the step would break on
    the funnel's entry URL (one segment shorter), so from-template writes the full path.
    """
    if isinstance(tree, list):
        return [_link_steps(node, links) for node in tree]
    if not isinstance(tree, dict):
        return tree
    node = dict(tree)
    props = dict(node.get("props") or {})
    for key in ("href", "cta_href"):
        if isinstance(props.get(key), str) and props[key] in links:
            props[key] = links[props[key]]
    node["props"] = props
    if "children" in node:
        node["children"] = _link_steps(node["children"], links)
    return node


def create_from_template(
    session: Session, *, account_id: uuid.UUID, data: FromTemplateIn
) -> Funnel:
    """A draft funnel and its pages built from a template, ready to publish as it is."""
    row = repo.get_template(session, data.template_id)
    if row is None:
        raise NotFound("Template not found")
    template = TemplateDefinition.model_validate(row.definition)
    offers = _offer_products(session, account_id, template, data.product_map)
    funnel = funnels.create(
        session,
        account_id=account_id,
        data=FunnelIn(
            name=data.name or template.name,
            slug=data.slug,
            funnel_type=template.category,
            description=template.description,
        ),
    )
    links = _step_links(session, account_id, funnel.slug, template)
    for step in template.steps:
        page_id = None
        if step.page is not None:
            page_in = PageIn.model_validate(
                {
                    **step.page,
                    "elements": _link_steps(step.page.get("elements", []), links),
                    "name": f"{funnel.name}: {step.page['name']}"[:200],
                    "funnel_id": funnel.id,
                },
                strict=False,
            )
            page_id = pages.create(session, account_id=account_id, data=page_in).id
        funnels.add_step(
            session,
            account_id=account_id,
            funnel_id=funnel.id,
            data=StepIn(
                name=step.name,
                slug=step.slug,
                step_type=step.step_type,
                page_id=page_id,
                product_id=offers[step.offer] if step.offer else None,
                bump_product_ids=[offers[k] for k in step.bump_offers],
            ),
        )
    return funnel
