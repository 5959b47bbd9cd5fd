"""Every query of the funnel builder."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.funnels.models import Funnel, FunnelStep, FunnelTemplate, FunnelVersion
from domain.shared.db import like_pattern, paginate
from domain.shared.schemas import PageParams


def get(
    session: Session, account_id: uuid.UUID, funnel_id: uuid.UUID, *, for_update: bool = False
) -> Funnel | None:
    """One of the account's funnels; for_update locks its row until commit (writers queue)."""
    stmt = select(Funnel).where(Funnel.id == funnel_id, Funnel.account_id == account_id)
    if for_update:
        # populate_existing: a copy loaded earlier in this session must not hide a newer version.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def owners(session: Session, funnel_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """funnel id -> account id of the existing funnels among funnel_ids."""
    if not funnel_ids:
        return {}
    stmt = select(Funnel.id, Funnel.account_id).where(Funnel.id.in_(list(funnel_ids)))
    return {funnel_id: account_id for funnel_id, account_id in session.execute(stmt)}


def list_funnels(
    session: Session,
    account_id: uuid.UUID,
    page: PageParams,
    *,
    status: str | None,
    funnel_type: str | None,
    search: str | None,
) -> tuple[list[Funnel], int]:
    """The account's funnels, newest first."""
    stmt = select(Funnel).where(Funnel.account_id == account_id)
    if status is not None:
        stmt = stmt.where(Funnel.status == status)
    if funnel_type is not None:
        stmt = stmt.where(Funnel.funnel_type == funnel_type)
    if search:
        stmt = stmt.where(Funnel.name.ilike(like_pattern(search)))
    return paginate(session, stmt.order_by(Funnel.created_at.desc(), Funnel.id), page)


def slugs_like(session: Session, account_id: uuid.UUID, base: str) -> set[str]:
    """The account's funnel slugs that are base or start with it (to pick a free one)."""
    rows = session.scalars(
        select(Funnel.slug).where(
            Funnel.account_id == account_id,
            Funnel.slug.like(base.replace("_", "\\_").replace("%", "\\%") + "%"),
        )
    )
    return set(rows)


def slug_taken(
    session: Session, account_id: uuid.UUID, slug: str, *, other_than: uuid.UUID | None = None
) -> bool:
    """Whether another of the account's funnels has this slug."""
    stmt = select(Funnel.id).where(Funnel.account_id == account_id, Funnel.slug == slug)
    if other_than is not None:
        stmt = stmt.where(Funnel.id != other_than)
    return session.scalar(stmt.limit(1)) is not None


def steps_of(session: Session, funnel_id: uuid.UUID) -> list[FunnelStep]:
    """A funnel's steps in order."""
    return list(
        session.scalars(
            select(FunnelStep)
            .where(FunnelStep.funnel_id == funnel_id)
            .order_by(FunnelStep.position)
        )
    )


def get_step(
    session: Session, account_id: uuid.UUID, funnel_id: uuid.UUID, step_id: uuid.UUID
) -> FunnelStep | None:
    """One step of one of the account's funnels."""
    return session.scalar(
        select(FunnelStep).where(
            FunnelStep.id == step_id,
            FunnelStep.funnel_id == funnel_id,
            FunnelStep.account_id == account_id,
        )
    )


def shift_steps(session: Session, funnel_id: uuid.UUID, *, from_position: int, by: int) -> None:
    """Move every step at from_position or later by `by` places (the unique check is deferred)."""
    session.execute(
        update(FunnelStep)
        .where(FunnelStep.funnel_id == funnel_id, FunnelStep.position >= from_position)
        .values(position=FunnelStep.position + by)
        .execution_options(synchronize_session="fetch")
    )


def delete_steps(session: Session, funnel_id: uuid.UUID) -> None:
    """Remove every step of a funnel."""
    for step in steps_of(session, funnel_id):
        session.delete(step)
    session.flush()


def add_version(session: Session, snapshot: FunnelVersion) -> None:
    """Store a published snapshot."""
    session.add(snapshot)


def get_version(session: Session, funnel_id: uuid.UUID, version: int) -> FunnelVersion | None:
    """The snapshot a funnel was published at, by edit version."""
    return session.scalar(
        select(FunnelVersion).where(
            FunnelVersion.funnel_id == funnel_id, FunnelVersion.version == version
        )
    )


def list_versions(
    session: Session, funnel_id: uuid.UUID, page: PageParams
) -> tuple[list[FunnelVersion], int]:
    """A funnel's published snapshots, newest first."""
    stmt = (
        select(FunnelVersion)
        .where(FunnelVersion.funnel_id == funnel_id)
        .order_by(FunnelVersion.version.desc())
    )
    return paginate(session, stmt, page)


def live_funnel_ids_using_page(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID
) -> list[uuid.UUID]:
    """Active funnels of the account with a draft step on this page, or whose published
    snapshot (what visitors are served) names it; oldest first."""
    in_draft = (
        select(FunnelStep.funnel_id)
        .where(FunnelStep.page_id == page_id)
        .where(FunnelStep.funnel_id == Funnel.id)
    )
    in_snapshot = select(FunnelVersion.id).where(
        FunnelVersion.funnel_id == Funnel.id,
        FunnelVersion.version == Funnel.published_version,
        FunnelVersion.snapshot["steps"].contains([{"page_id": str(page_id)}]),
    )
    rows = session.scalars(
        select(Funnel.id)
        .where(
            Funnel.account_id == account_id,
            Funnel.status == "active",
            in_draft.exists() | in_snapshot.exists(),
        )
        .order_by(Funnel.created_at, Funnel.id)
    )
    return list(rows)


def list_templates(
    session: Session, page: PageParams, *, category: str | None
) -> tuple[list[FunnelTemplate], int]:
    """The template library, by category then name."""
    stmt = select(FunnelTemplate)
    if category is not None:
        stmt = stmt.where(FunnelTemplate.category == category)
    return paginate(session, stmt.order_by(FunnelTemplate.category, FunnelTemplate.name), page)


def get_template(session: Session, template_id: uuid.UUID) -> FunnelTemplate | None:
    """One template of the library."""
    return session.get(FunnelTemplate, template_id)


def count_templates(session: Session) -> int:
    """How many templates the library holds."""
    return session.scalar(select(func.count()).select_from(FunnelTemplate)) or 0


def upsert_templates(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Insert the library's templates, or refresh them by key."""
    if not rows:
        return
    stmt = insert(FunnelTemplate).values(list(rows))
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[FunnelTemplate.key],
            set_={
                "name": stmt.excluded.name,
                "category": stmt.excluded.category,
                "description": stmt.excluded.description,
                "definition": stmt.excluded.definition,
                "updated_at": func.now(),
            },
        )
    )


def get_active_by_slug(session: Session, account_id: uuid.UUID, slug: str) -> Funnel | None:
    """The account's funnel with this slug, if it is live."""
    return session.scalar(
        select(Funnel).where(
            Funnel.account_id == account_id, Funnel.slug == slug, Funnel.status == "active"
        )
    )


def step_types(
    session: Session, account_id: uuid.UUID, step_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The type of each of these steps of the account (unknown ids are left out)."""
    stmt = select(FunnelStep.id, FunnelStep.step_type).where(
        FunnelStep.account_id == account_id, FunnelStep.id.in_(step_ids)
    )
    return {step_id: step_type for step_id, step_type in session.execute(stmt)}
