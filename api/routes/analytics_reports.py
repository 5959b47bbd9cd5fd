"""Funnel reports (#44 to #46): read from funnel_step_stats, days in the account's zone."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import CurrentPrincipal, DbSession
from domain.analytics import reports
from domain.analytics.dropoff_chart import dropoffs_svg
from domain.analytics.report_schemas import DropoffsOut, Interval, OverviewOut, StepsOut
from domain.shared.schemas import DateParam

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "The funnel is not one of the account's"}
}
From = Annotated[
    DateParam | None,
    Query(
        alias="from",
        description="first local day, inclusive (default: to - 29 days)",
        json_schema_extra={"pattern": reports.DAY_PATTERN},
    ),
]
To = Annotated[
    DateParam | None,
    Query(
        alias="to",
        description="last local day, inclusive (default: today in the account's zone)",
        json_schema_extra={"pattern": reports.DAY_PATTERN},
    ),
]


@router.get("/funnels/{funnel_id}/overview", response_model=OverviewOut, responses=NOT_FOUND)
def overview(
    funnel_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    date_from: From = None,
    date_to: To = None,
) -> OverviewOut:
    """Views, exact unique visitors, opt-ins, sales, take rates, revenue per currency,
    conversion and earnings per click, for the funnel and each step; at most 366 days."""
    return reports.overview(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        date_from=date_from,
        date_to=date_to,
    )


@router.get("/funnels/{funnel_id}/steps", response_model=StepsOut, responses=NOT_FOUND)
def steps(
    funnel_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    date_from: From = None,
    date_to: To = None,
    interval: Annotated[Interval, Query(description="day, or ISO week (Monday first)")] = "day",
) -> StepsOut:
    """Each step's figures per day or week of the range (unique visitors exact per bucket)."""
    return reports.steps_report(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        interval=interval,
        date_from=date_from,
        date_to=date_to,
    )


@router.get(
    "/funnels/{funnel_id}/dropoffs",
    response_model=DropoffsOut,
    responses={
        200: {
            "description": "JSON, or with `format=svg` the same as an SVG chart",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        },
        **NOT_FOUND,
    },
)
def dropoffs(
    funnel_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    date_from: From = None,
    date_to: To = None,
    format: Annotated[
        Literal["json", "svg"], Query(description="json (default) or svg (a bar chart)")
    ] = "json",
) -> Any:
    """Step-to-step conversion and drop-off in funnel order (`format=svg`: as a chart)."""
    report = reports.dropoffs_report(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        date_from=date_from,
        date_to=date_to,
    )
    if format == "svg":
        return Response(dropoffs_svg(report), media_type="image/svg+xml")
    return report
