"""Use cases of split tests: create, lifecycle, results, assignment, and the page to serve.

Other contexts call `variant_for` (the visitor pages: which page a step serves to a
visitor). The pages module asks `_pages_held` (registered below) before deleting or
unpublishing a page, so it never imports this context.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.orm import Session

from domain.analytics import split_repository as repo
from domain.analytics.assignment import VariantSplit, assign, split_basis_points
from domain.analytics.rollup import CUSTOM_GOAL, GOAL_BY_STEP_TYPE
from domain.analytics.split_models import AbTest, AbTestVariant, SplitTestStatus
from domain.analytics.split_results import SplitTestResult, VariantCounts, analyse
from domain.analytics.split_schemas import (
    EventGoalIn,
    SplitTestIn,
    SplitTestPatch,
    StepGoalIn,
    VariantIn,
)
from domain.funnels import service as funnels
from domain.pages import service as pages
from domain.shared.db import flush_or_conflict, utcnow
from domain.shared.errors import Conflict, InvalidInput, NotFound
from domain.shared.settings import get_settings

# Which status a PATCH may move a test to from each status (the same status is a no-op).
TRANSITIONS: dict[SplitTestStatus, frozenset[SplitTestStatus]] = {
    "draft": frozenset({"running"}),
    "running": frozenset({"paused", "completed"}),
    "paused": frozenset({"running", "completed"}),
    "completed": frozenset(),
}
# Steps that are not pages of their own have nothing to split.
PAGELESS_STEP_TYPES = frozenset({"order_bump"})


@dataclass(frozen=True)
class LoadedTest:
    """A test with its variants in order (the control first)."""

    test: AbTest
    variants: list[AbTestVariant]


@dataclass(frozen=True)
class Assignment:
    """The variant a visitor gets, and whether the step serves it now."""

    variant: AbTestVariant
    by: Literal["split", "winner"]
    serving: bool


@dataclass(frozen=True)
class ServedVariant:
    """What a step serves a visitor while a test decides it: a page at a pinned version."""

    test_id: uuid.UUID
    variant_id: uuid.UUID
    page_id: uuid.UUID
    page_version: int


def _invalid(loc: list[Any], msg: str) -> InvalidInput:
    """422 invalid_input naming the field."""
    return InvalidInput(msg[0].upper() + msg[1:], details=[{"loc": loc, "msg": msg}])


def get(session: Session, *, account_id: uuid.UUID, test_id: uuid.UUID) -> LoadedTest:
    """One of the account's tests, or 404."""
    test = repo.get(session, account_id, test_id)
    if test is None:
        raise NotFound("Split test not found")
    return LoadedTest(test, repo.variants_of(session, test.id))


# --- create -----------------------------------------------------------------------------


def create(session: Session, *, account_id: uuid.UUID, data: SplitTestIn) -> LoadedTest:
    """A draft test on a step of one of the account's funnels (422 naming any bad field)."""
    try:
        funnel = funnels.get(session, account_id=account_id, funnel_id=data.funnel_id)
    except NotFound:
        raise _invalid(["funnel_id"], "no such funnel in this account") from None
    steps = funnels.steps(session, funnel)
    step = next((s for s in steps if s.id == data.step_id), None)
    if step is None:
        raise _invalid(["step_id"], "no such step in this funnel")
    if step.step_type in PAGELESS_STEP_TYPES:
        raise _invalid(["step_id"], f"an {step.step_type} step has no page to split")
    goal_step_id, goal_types = _goal(data.goal, step, steps)
    names = _variant_pages(session, account_id, data.variants)
    _check_splits(data.variants)
    test = AbTest(
        id=uuid.uuid4(),
        account_id=account_id,
        funnel_id=funnel.id,
        step_id=step.id,
        name=data.name,
        status="draft",
        goal_kind=data.goal.kind,
        goal_step_id=goal_step_id,
        goal_event_types=goal_types,
        goal_name=data.goal.name if isinstance(data.goal, EventGoalIn) else None,
    )
    session.add(test)
    session.flush()
    variants = [
        AbTestVariant(
            id=uuid.uuid4(),
            account_id=account_id,
            ab_test_id=test.id,
            position=i,
            name=v.name or names[v.page_id],
            page_id=v.page_id,
            percent=Decimal(f"{v.percent:.2f}"),
        )
        for i, v in enumerate(data.variants)
    ]
    session.add_all(variants)
    session.flush()
    return LoadedTest(test, variants)


def _goal(
    goal: StepGoalIn | EventGoalIn, step: Any, steps: list[Any]
) -> tuple[uuid.UUID | None, list[str]]:
    """The goal's step and the event types that count for it.

    A step's goal is what the rollup counts as its conversion: its type's goal event (opt-in,
    purchase, accepted offer) or a custom `conversion` event at it.
    """
    if isinstance(goal, EventGoalIn):
        return None, [CUSTOM_GOAL]
    target = step
    if goal.step_id is not None:
        target = next((s for s in steps if s.id == goal.step_id), None)
        if target is None:
            raise _invalid(["goal", "step_id"], "no such step in this funnel")
        if target.position < step.position:
            raise _invalid(["goal", "step_id"], "the goal must be the tested step or a later one")
    typed = GOAL_BY_STEP_TYPE.get(target.step_type)
    return target.id, [t for t in (typed, CUSTOM_GOAL) if t is not None]


def _variant_pages(
    session: Session, account_id: uuid.UUID, variants: list[VariantIn]
) -> dict[uuid.UUID, str]:
    """Each variant's page name; 422 for a page that is repeated, not ours or not published."""
    found = pages.lock_pages(session, account_id=account_id, page_ids=[v.page_id for v in variants])
    seen: set[uuid.UUID] = set()
    for i, variant in enumerate(variants):
        loc = ["variants", i, "page_id"]
        page = found.get(variant.page_id)
        if variant.page_id in seen:
            raise _invalid(loc, "each variant needs a page of its own")
        seen.add(variant.page_id)
        if page is None:
            raise _invalid(loc, "no such page in this account")
        if page.status != "published":
            raise _invalid(loc, "the page is not published")
    return {page_id: page.name for page_id, page in found.items()}


def _check_splits(variants: list[VariantIn]) -> None:
    """Percents with at most two decimals that sum to 100 (422 otherwise)."""
    try:
        split_basis_points([VariantSplit(str(i), v.percent) for i, v in enumerate(variants)])
    except ValueError as exc:
        raise _invalid(["variants"], str(exc)) from None


# --- lifecycle --------------------------------------------------------------------------


def update(
    session: Session, *, account_id: uuid.UUID, test_id: uuid.UUID, data: SplitTestPatch
) -> LoadedTest:
    """Rename, start (pinning page versions), pause, resume, complete, or declare a winner."""
    test = repo.get(session, account_id, test_id, for_update=True)
    if test is None:
        raise NotFound("Split test not found")
    variants = repo.variants_of(session, test.id)
    changes = data.changes()
    if "name" in changes:
        test.name = changes["name"]
    winner = changes.get("winner_variant_id")
    wanted: SplitTestStatus | None = changes.get("status")
    if winner is not None:
        if wanted not in (None, "completed"):
            raise _invalid(["status"], "declaring a winner completes the test")
        _declare(test, variants, winner)
    elif wanted is not None and wanted != test.status:
        _move(session, test, variants, wanted)
    test.updated_at = utcnow()
    flush_or_conflict(session, "Another test of this step is running", "step_has_running_test")
    return LoadedTest(test, variants)


def _move(
    session: Session, test: AbTest, variants: list[AbTestVariant], wanted: SplitTestStatus
) -> None:
    """One lifecycle step (409 invalid_transition when the status does not allow it)."""
    if wanted not in TRANSITIONS[test.status]:
        raise Conflict(
            f"A {test.status} test cannot become {wanted}",
            code="invalid_transition",
            details=[{"status": test.status, "allowed": sorted(TRANSITIONS[test.status])}],
        )
    now = utcnow()
    if wanted == "running":
        _refuse_if_step_busy(session, test)
        if test.status == "draft":
            _pin_pages(session, test, variants)
            test.started_at = now
        test.paused_at = None
    elif wanted == "paused":
        test.paused_at = now
    else:
        test.completed_at = now
    test.status = wanted


def _refuse_if_step_busy(session: Session, test: AbTest) -> None:
    """409 step_has_running_test while another test of the step runs or is paused."""
    other = repo.active_test_on_step(session, test.account_id, test.step_id, exclude=test.id)
    if other is not None:
        raise Conflict(
            "Another test of this step is running or paused; complete it first",
            code="step_has_running_test",
            details=[{"ab_test_id": str(other)}],
        )


def _pin_pages(session: Session, test: AbTest, variants: list[AbTestVariant]) -> None:
    """Pin each variant's published page version (409 page_not_published if one is not)."""
    found = pages.lock_pages(
        session, account_id=test.account_id, page_ids=[v.page_id for v in variants]
    )
    missing = [
        {"variant_id": str(v.id), "page_id": str(v.page_id)}
        for v in variants
        if v.page_id not in found or found[v.page_id].status != "published"
    ]
    if missing:
        raise Conflict(
            "Every variant's page must be published to start the test",
            code="page_not_published",
            details=missing,
        )
    for variant in variants:
        variant.page_version = found[variant.page_id].published_version


def _declare(test: AbTest, variants: list[AbTestVariant], winner: uuid.UUID) -> None:
    """Complete the test with a winner that takes all its traffic (409 before it started)."""
    if winner not in {v.id for v in variants}:
        raise _invalid(["winner_variant_id"], "no such variant in this test")
    if test.status == "draft":
        raise Conflict("A test that never ran has no winner", code="invalid_transition")
    if test.winner_variant_id is not None and test.winner_variant_id != winner:
        raise Conflict("This test's winner is already declared", code="winner_declared")
    if test.status != "completed":
        test.completed_at = utcnow()
    test.status = "completed"
    test.winner_variant_id = winner


# --- results ----------------------------------------------------------------------------


def results(
    session: Session, *, account_id: uuid.UUID, test_id: uuid.UUID
) -> tuple[LoadedTest, SplitTestResult]:
    """The test and its figures now, from raw events (a draft has none yet)."""
    loaded = get(session, account_id=account_id, test_id=test_id)
    test, variants = loaded.test, loaded.variants
    counts: dict[uuid.UUID, tuple[int, int]] = {}
    if test.started_at is not None:
        counts = repo.variant_counts(
            session,
            test=test,
            variant_ids=[v.id for v in variants],
            since=test.started_at,
            until=test.completed_at or utcnow(),
        )
    settings = get_settings()
    result = analyse(
        [VariantCounts(str(v.id), float(v.percent), *counts.get(v.id, (0, 0))) for v in variants],
        alpha=settings.split_test_alpha,
        tau=settings.split_test_msprt_tau,
        min_sample=settings.split_test_min_sample,
    )
    return loaded, result


# --- assignment -------------------------------------------------------------------------


def _assigned(test: AbTest, variants: list[AbTestVariant], visitor_id: str) -> AbTestVariant:
    """The visitor's variant: the declared winner, else the sticky hash of (test, visitor)."""
    key = assign(
        str(test.id),
        visitor_id,
        [VariantSplit(str(v.id), float(v.percent)) for v in variants],
        winner=str(test.winner_variant_id) if test.winner_variant_id else None,
    )
    return next(v for v in variants if str(v.id) == key)


def assignment(
    session: Session, *, account_id: uuid.UUID, test_id: uuid.UUID, visitor_id: str
) -> Assignment:
    """The variant this visitor gets; reads only (the exposure is recorded when served)."""
    loaded = get(session, account_id=account_id, test_id=test_id)
    test = loaded.test
    serving = test.status == "running" or (
        test.status == "completed" and test.winner_variant_id is not None
    )
    return Assignment(
        _assigned(test, loaded.variants, visitor_id),
        "winner" if test.winner_variant_id else "split",
        serving,
    )


def variant_for(
    session: Session,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    step_id: uuid.UUID,
    visitor_id: str,
) -> ServedVariant | None:
    """The page a step serves this visitor while a test decides it, or None (the step's own).

    A running test assigns by its split; a completed one with a declared winner sends
    everyone to the winner; a paused test, or one completed without a winner, serves
    nothing. The caller records the exposure when it serves the page.
    """
    test = repo.serving_test(session, account_id, funnel_id, step_id)
    if test is None:
        return None
    variant = _assigned(test, repo.variants_of(session, test.id), visitor_id)
    if variant.page_version is None:
        return None
    return ServedVariant(test.id, variant.id, variant.page_id, variant.page_version)


@pages.register_page_hold
def _pages_held(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID
) -> list[dict[str, str]]:
    """Running or paused tests serving this page (the pages module refuses to remove it)."""
    return [{"ab_test_id": str(t)} for t in repo.tests_holding_page(session, account_id, page_id)]
