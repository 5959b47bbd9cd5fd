"""Request and response shapes of split tests (#48-#51)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from domain.analytics.split_models import GoalKind, SplitTestStatus
from domain.shared.schemas import Id, InputModel, OutputModel, PatchModel

MAX_VARIANTS = 10


class StepGoalIn(InputModel):
    """A step's conversion: the tested step's (default) or a later step's."""

    kind: Literal["step"] = Field(
        default="step",
        description="the goal of a step: opt-in, purchase, accepted offer, or a `conversion` "
        "event at that step",
    )
    step_id: Id | None = Field(
        default=None, description="the tested step (default) or a later one of the funnel"
    )


class EventGoalIn(InputModel):
    """A custom `conversion` event anywhere in the funnel."""

    kind: Literal["event"]
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="only `conversion` events whose properties.name is this (default: any)",
    )


class VariantIn(InputModel):
    """One variant: a published page of the account and its share of the traffic."""

    page_id: Id
    percent: float = Field(
        ge=0, le=100, description="share of the traffic in percent, at most two decimals"
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=100, description="default: the page's name"
    )


class SplitTestIn(InputModel):
    """A new split test (a draft) on one step of a funnel; the first variant is the control."""

    name: str = Field(min_length=1, max_length=200)
    funnel_id: Id
    step_id: Id
    variants: list[VariantIn] = Field(min_length=2, max_length=MAX_VARIANTS)
    goal: StepGoalIn | EventGoalIn = Field(default_factory=StepGoalIn)


class SplitTestPatch(PatchModel):
    """Rename, move through the lifecycle, or declare a winner (which completes the test)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["running", "paused", "completed"] | None = Field(
        default=None,
        description="draft → running (pins each page's published version) ⇄ paused → completed",
    )
    winner_variant_id: Id | None = Field(
        default=None,
        description="declare this variant the winner: the test completes and all its traffic "
        "goes to the winner (the funnel itself is unchanged)",
    )


class GoalOut(OutputModel):
    """The test's goal and the event types that count for it."""

    kind: GoalKind
    step_id: uuid.UUID | None
    name: str | None
    event_types: list[str]


class VariantOut(OutputModel):
    """A variant as stored: its page, share, and the page version pinned at the start."""

    id: uuid.UUID
    name: str
    page_id: uuid.UUID
    percent: float
    page_version: int | None = Field(description="pinned when the test first started")
    is_control: bool


class IntervalOut(OutputModel):
    """A two-sided interval."""

    low: float
    high: float


class VariantResultOut(OutputModel):
    """One variant's figures; comparisons with control are null for the control itself and
    while undefined (no exposures, a control rate of 0 for the relative lift)."""

    variant_id: uuid.UUID
    name: str
    is_control: bool
    exposures: int = Field(description="distinct visitors whose first exposure was this variant")
    conversions: int = Field(description="of those, visitors with a goal event after it")
    rate: float | None
    rate_ci: IntervalOut | None = Field(description="Wilson score interval")
    absolute_lift: float | None = Field(description="rate - control's rate")
    absolute_lift_ci: IntervalOut | None = Field(description="fixed-horizon (Wald, unpooled)")
    relative_lift: float | None = Field(description="rate / control's rate - 1")
    relative_lift_ci: IntervalOut | None = Field(description="fixed-horizon, delta method")
    p_value: float | None = Field(description="fixed-horizon two-sided z-test (unpooled)")
    always_valid_p_value: float | None = Field(description="mSPRT: may be read at every look")
    always_valid_lift_ci: IntervalOut | None = Field(
        description="mSPRT confidence sequence of the absolute lift"
    )
    chance_to_beat_control: float | None = Field(description="P(rate > control's), Beta-Binomial")


class SrmOut(OutputModel):
    """Sample-ratio check: chi-square of the exposures against the split, flagged at p < 0.001."""

    p_value: float | None
    flagged: bool


class ResultsOut(OutputModel):
    """Per-variant figures, the SRM check, and whether (and by which method) a winner is called."""

    status: Literal["winner", "no_winner_yet", "insufficient_sample", "sample_ratio_mismatch"]
    winner_variant_id: uuid.UUID | None = Field(description="the variant the method calls")
    decision_method: str = Field(description="the method that calls winners")
    alpha: float
    alpha_per_comparison: float = Field(description="alpha split by Bonferroni over treatments")
    tau: float = Field(description="the mSPRT's mixing spread (SPLIT_TEST_MSPRT_TAU)")
    min_sample: int = Field(description="exposures each variant needs before any call")
    prior: list[int] = Field(description="Beta prior (a, b) of the chance to beat control")
    srm: SrmOut
    variants: list[VariantResultOut]


class SplitTestOut(OutputModel):
    """A split test: its setup and lifecycle."""

    id: uuid.UUID
    name: str
    funnel_id: uuid.UUID
    step_id: uuid.UUID
    status: SplitTestStatus
    goal: GoalOut
    variants: list[VariantOut]
    winner_variant_id: uuid.UUID | None = Field(description="declared by the merchant")
    started_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SplitTestResultsOut(SplitTestOut):
    """A split test with its results now."""

    results: ResultsOut


class AssignmentOut(OutputModel):
    """The variant a visitor gets: sticky, from a hash of (test, visitor); no side effect."""

    test_id: uuid.UUID
    visitor_id: str
    variant_id: uuid.UUID
    page_id: uuid.UUID
    page_version: int | None
    by: Literal["split", "winner"] = Field(description="from the split, or the declared winner")
    serving: bool = Field(
        description="whether the step serves this now (running, or completed with a winner)"
    )
