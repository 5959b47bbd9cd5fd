"""Split tests (#48-#51): create, results with significance and a chart, lifecycle, assignment."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentPrincipal, DbSession
from domain.analytics import split_service as splits
from domain.analytics.split_results import SplitTestResult
from domain.analytics.split_schemas import (
    AssignmentOut,
    GoalOut,
    IntervalOut,
    ResultsOut,
    SplitTestIn,
    SplitTestOut,
    SplitTestPatch,
    SplitTestResultsOut,
    SrmOut,
    VariantOut,
    VariantResultOut,
)
from domain.analytics.split_stats import Interval

router = APIRouter(prefix="/api/v1/analytics/ab-tests", tags=["split tests"])

LIFECYCLE_CONFLICTS: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Conflicts with the test's state: the status does not allow that move "
        "(`invalid_transition`), another test of the step is running or paused "
        "(`step_has_running_test`), a variant's page is no longer published "
        "(`page_not_published`), another winner is declared (`winner_declared`)"
    }
}
SVG: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Each variant's rate with its Wilson interval, control first, winner green",
        "content": {"image/svg+xml": {"schema": {"type": "string"}}},
    }
}


def _interval(value: Interval | None) -> IntervalOut | None:
    return IntervalOut(low=value.low, high=value.high) if value is not None else None


def _test_out(loaded: splits.LoadedTest) -> dict[str, Any]:
    """The fields of SplitTestOut from a loaded test."""
    test = loaded.test
    return {
        "id": test.id,
        "name": test.name,
        "funnel_id": test.funnel_id,
        "step_id": test.step_id,
        "status": test.status,
        "goal": GoalOut(
            kind=test.goal_kind,
            step_id=test.goal_step_id,
            name=test.goal_name,
            event_types=list(test.goal_event_types),
        ),
        "variants": [
            VariantOut(
                id=v.id,
                name=v.name,
                page_id=v.page_id,
                percent=float(v.percent),
                page_version=v.page_version,
                is_control=v.position == 0,
            )
            for v in loaded.variants
        ],
        "winner_variant_id": test.winner_variant_id,
        "started_at": test.started_at,
        "paused_at": test.paused_at,
        "completed_at": test.completed_at,
        "created_at": test.created_at,
        "updated_at": test.updated_at,
    }


def _results_out(loaded: splits.LoadedTest, result: SplitTestResult) -> ResultsOut:
    """The figures of every variant, keyed back from the statistics' string keys."""
    names = {str(v.id): v.name for v in loaded.variants}
    rows = []
    for r in result.variants:
        fixed, valid = r.fixed_horizon, r.always_valid
        rows.append(
            VariantResultOut(
                variant_id=uuid.UUID(r.key),
                name=names[r.key],
                is_control=r.is_control,
                exposures=r.exposures,
                conversions=r.conversions,
                rate=r.rate,
                rate_ci=_interval(r.rate_ci),
                absolute_lift=fixed.absolute_lift if fixed else None,
                absolute_lift_ci=_interval(fixed.absolute_lift_ci) if fixed else None,
                relative_lift=fixed.relative_lift if fixed else None,
                relative_lift_ci=_interval(fixed.relative_lift_ci) if fixed else None,
                p_value=fixed.p_value if fixed else None,
                always_valid_p_value=valid.p_value if valid else None,
                always_valid_lift_ci=_interval(valid.absolute_lift_ci) if valid else None,
                chance_to_beat_control=r.chance_to_beat_control,
            )
        )
    return ResultsOut(
        status=result.status,
        winner_variant_id=uuid.UUID(result.winner) if result.winner else None,
        decision_method=result.decision_method,
        alpha=result.alpha,
        alpha_per_comparison=result.alpha_per_comparison,
        tau=result.tau,
        min_sample=result.min_sample,
        prior=list(result.prior),
        srm=SrmOut(p_value=result.srm.p_value, flagged=result.srm.flagged),
        variants=rows,
    )


@router.post("", response_model=SplitTestOut, status_code=status.HTTP_201_CREATED)
def create_split_test(
    body: SplitTestIn, principal: CurrentPrincipal, db: DbSession
) -> SplitTestOut:
    """A draft test of a funnel step between published pages; the first variant is the control."""
    loaded = splits.create(db, account_id=principal.account_id, data=body)
    return SplitTestOut(**_test_out(loaded))


@router.get("/{test_id}", response_model=SplitTestResultsOut)
def get_split_test(
    test_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession
) -> SplitTestResultsOut:
    """The test with each variant's results now; the chart is GET …/{test_id}/chart.svg."""
    loaded, result = splits.results(db, account_id=principal.account_id, test_id=test_id)
    return SplitTestResultsOut(**_test_out(loaded), results=_results_out(loaded, result))


@router.get("/{test_id}/chart.svg", response_class=Response, responses=SVG)
def split_test_chart(test_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> Response:
    """The variants' rates with their intervals as an SVG image."""
    # Function-level: matplotlib costs about a second to import, paid only where it is drawn.
    from domain.analytics.split_chart import rates_chart_svg

    loaded, result = splits.results(db, account_id=principal.account_id, test_id=test_id)
    # The chart labels rows by key: give it the variants' names instead of their ids.
    names = {str(v.id): v.name for v in loaded.variants}
    svg = rates_chart_svg(_renamed(result, names))
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def _renamed(result: SplitTestResult, names: dict[str, str]) -> SplitTestResult:
    """The result with variant keys replaced by names (unique, so rows stay distinct)."""
    unique = {key: f"{name} [{key[:8]}]" for key, name in names.items()}
    if len(set(names.values())) == len(names):
        unique = names
    return replace(
        result,
        variants=[replace(v, key=unique[v.key]) for v in result.variants],
        winner=unique[result.winner] if result.winner else None,
    )


@router.patch("/{test_id}", response_model=SplitTestOut, responses=LIFECYCLE_CONFLICTS)
def update_split_test(
    test_id: uuid.UUID, body: SplitTestPatch, principal: CurrentPrincipal, db: DbSession
) -> SplitTestOut:
    """Start (pins each page's published version), pause, resume, complete, declare a winner."""
    loaded = splits.update(db, account_id=principal.account_id, test_id=test_id, data=body)
    return SplitTestOut(**_test_out(loaded))


@router.get("/{test_id}/assignment", response_model=AssignmentOut)
def split_test_assignment(
    test_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    visitor_id: Annotated[
        str,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="the visitor's id (1-64 of letters, digits and . _ : -)",
        ),
    ],
) -> AssignmentOut:
    """The visitor's sticky variant (a hash of test and visitor); records nothing."""
    found = splits.assignment(
        db, account_id=principal.account_id, test_id=test_id, visitor_id=visitor_id
    )
    return AssignmentOut(
        test_id=test_id,
        visitor_id=visitor_id,
        variant_id=found.variant.id,
        page_id=found.variant.page_id,
        page_version=found.variant.page_version,
        by=found.by,
        serving=found.serving,
    )
