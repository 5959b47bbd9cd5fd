"""A split test's results: every variant against control, the SRM check, and the winner call.

The winner is called by the always-valid mSPRT only (domain/analytics/sequential.py); the
fixed-horizon figures are shown beside it for readers who know them, never used to decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy.special import chdtrc

from domain.analytics.assignment import BASIS_POINTS, VariantSplit, split_basis_points
from domain.analytics.sequential import AlwaysValid, msprt
from domain.analytics.split_stats import (
    FixedHorizon,
    Interval,
    chance_to_beat,
    fixed_horizon,
    rate,
    wilson_interval,
)

# GrowthBook and PostHog flag a sample-ratio mismatch at this p-value; so do we.
SRM_P_THRESHOLD = 0.001

ResultStatus = Literal["winner", "no_winner_yet", "insufficient_sample", "sample_ratio_mismatch"]
DECISION_METHOD = "msprt_normal_mixture"


@dataclass(frozen=True)
class VariantCounts:
    """What was observed for one variant, with its configured share of the traffic."""

    key: str
    percent: float
    exposures: int
    conversions: int


@dataclass(frozen=True)
class VariantResult:
    """One variant's figures; the comparisons are None for control and when undefined."""

    key: str
    is_control: bool
    exposures: int
    conversions: int
    rate: float | None
    rate_ci: Interval | None
    fixed_horizon: FixedHorizon | None
    always_valid: AlwaysValid | None
    chance_to_beat_control: float | None


@dataclass(frozen=True)
class SrmCheck:
    """Chi-square of the exposures against the configured split; flagged at p < 0.001."""

    p_value: float | None
    flagged: bool


@dataclass(frozen=True)
class SplitTestResult:
    """Every variant's figures, the SRM check, and whether (and by what) a winner is called."""

    variants: list[VariantResult]
    srm: SrmCheck
    status: ResultStatus
    winner: str | None
    decision_method: str
    alpha: float
    alpha_per_comparison: float
    tau: float
    min_sample: int
    prior: tuple[int, int]


def sample_ratio_check(variants: Sequence[VariantCounts]) -> SrmCheck:
    """Pearson's chi-square goodness of fit of the exposures to the configured shares."""
    points = split_basis_points([VariantSplit(v.key, v.percent) for v in variants])
    total = sum(v.exposures for v in variants)
    if total == 0:
        return SrmCheck(None, False)
    # Traffic to a variant configured at 0% is a mismatch however little of it there is.
    if any(share == 0 and v.exposures for v, share in zip(variants, points, strict=True)):
        return SrmCheck(0.0, True)
    cells = [
        (v.exposures, total * share / BASIS_POINTS)
        for v, share in zip(variants, points, strict=True)
        if share
    ]
    if len(cells) < 2:
        return SrmCheck(1.0, False)
    statistic = sum((observed - expected) ** 2 / expected for observed, expected in cells)
    p_value = float(chdtrc(len(cells) - 1, statistic))
    return SrmCheck(p_value, p_value < SRM_P_THRESHOLD)


def analyse(
    variants: Sequence[VariantCounts],
    *,
    alpha: float,
    tau: float,
    min_sample: int,
    prior: tuple[int, int] = (1, 1),
) -> SplitTestResult:
    """Results of a split test whose first variant is the control, with the winner call."""
    if len(variants) < 2:
        raise ValueError("a split test needs at least two variants")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    # Bonferroni over the treatments: the chance of any false winner stays at most alpha.
    alpha_each = alpha / (len(variants) - 1)
    control = variants[0]
    results = [_control_result(control, alpha)] + [
        _treatment_result(control, v, alpha=alpha, alpha_each=alpha_each, tau=tau, prior=prior)
        for v in variants[1:]
    ]
    srm = sample_ratio_check(variants)
    status, winner = _call_winner(results, srm=srm, alpha_each=alpha_each, min_sample=min_sample)
    return SplitTestResult(
        results, srm, status, winner, DECISION_METHOD, alpha, alpha_each, tau, min_sample, prior
    )


def _control_result(control: VariantCounts, alpha: float) -> VariantResult:
    """The control's own figures (it is compared with nothing)."""
    return VariantResult(
        control.key,
        True,
        control.exposures,
        control.conversions,
        rate(control.conversions, control.exposures),
        wilson_interval(control.conversions, control.exposures, alpha),
        None,
        None,
        None,
    )


def _treatment_result(
    control: VariantCounts,
    variant: VariantCounts,
    *,
    alpha: float,
    alpha_each: float,
    tau: float,
    prior: tuple[int, int],
) -> VariantResult:
    """A treatment's figures against control (comparisons None until both have exposures)."""
    c = (control.conversions, control.exposures)
    t = (variant.conversions, variant.exposures)
    comparable = control.exposures > 0 and variant.exposures > 0
    return VariantResult(
        variant.key,
        False,
        variant.exposures,
        variant.conversions,
        rate(*t),
        wilson_interval(*t, alpha),
        fixed_horizon(c, t, alpha=alpha) if comparable else None,
        msprt(c, t, alpha=alpha_each, tau=tau) if comparable else None,
        chance_to_beat(c, t, prior=prior),
    )


def _call_winner(
    results: list[VariantResult], *, srm: SrmCheck, alpha_each: float, min_sample: int
) -> tuple[ResultStatus, str | None]:
    """The winner by the mSPRT: the best significantly better treatment, or control.

    Control wins only when every treatment is significantly worse. Nothing is called
    before every variant has min_sample exposures, nor while the SRM check is flagged
    (a broken assignment makes every figure suspect).
    """
    if any(r.exposures < min_sample for r in results):
        return "insufficient_sample", None
    if srm.flagged:
        return "sample_ratio_mismatch", None
    treatments = [r for r in results if not r.is_control]
    decided = [r for r in treatments if r.always_valid and r.always_valid.p_value <= alpha_each]
    better = [r for r in decided if r.fixed_horizon and r.fixed_horizon.absolute_lift > 0]
    if better:
        best = max(better, key=lambda r: r.rate or 0.0)
        return "winner", best.key
    if len(decided) == len(treatments) and not better:
        return "winner", results[0].key
    return "no_winner_yet", None
