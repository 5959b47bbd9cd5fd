"""Fixed-horizon split-test figures: rates, lifts with intervals, z-test, chance to beat control.

Every function is pure and works on counts (exposures and conversions per variant). A
figure that is undefined for the counts given (a rate of no exposures, a relative lift
against a control rate of zero) is None rather than a made-up number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy.special import betaln, logsumexp

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    """A two-sided interval [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class FixedHorizon:
    """A treatment against control, valid for one look at a sample size fixed in advance."""

    absolute_lift: float
    absolute_lift_ci: Interval | None
    relative_lift: float | None
    relative_lift_ci: Interval | None
    p_value: float | None


def z_critical(alpha: float) -> float:
    """The two-sided standard-normal critical value z_(1-alpha/2)."""
    return _STANDARD_NORMAL.inv_cdf(1 - alpha / 2)


def two_sided_p(z: float) -> float:
    """The two-sided standard-normal p-value of z, i.e. 2*(1-Phi(|z|)), without cancellation."""
    return math.erfc(abs(z) / math.sqrt(2))


def rate(conversions: int, exposures: int) -> float | None:
    """Conversions per exposure, None with no exposures."""
    _check_counts(conversions, exposures)
    return conversions / exposures if exposures else None


def wilson_interval(conversions: int, exposures: int, alpha: float) -> Interval | None:
    """The Wilson score interval of one rate (sane near 0 and 1, unlike the Wald interval)."""
    _check_counts(conversions, exposures)
    if not exposures:
        return None
    z = z_critical(alpha)
    p = conversions / exposures
    denominator = 1 + z * z / exposures
    centre = (p + z * z / (2 * exposures)) / denominator
    half = z * math.sqrt(p * (1 - p) / exposures + z * z / (4 * exposures**2)) / denominator
    return Interval(centre - half, centre + half)


def lift_variance(
    control: tuple[int, int], treatment: tuple[int, int]
) -> tuple[float, float, float]:
    """(control rate, treatment rate, unpooled variance of their difference) from counts."""
    (c_conv, c_exp), (t_conv, t_exp) = control, treatment
    _check_counts(c_conv, c_exp)
    _check_counts(t_conv, t_exp)
    if not c_exp or not t_exp:
        raise ValueError("a comparison needs exposures in both variants")
    p_c, p_t = c_conv / c_exp, t_conv / t_exp
    return p_c, p_t, p_c * (1 - p_c) / c_exp + p_t * (1 - p_t) / t_exp


def fixed_horizon(
    control: tuple[int, int], treatment: tuple[int, int], *, alpha: float
) -> FixedHorizon:
    """Lifts with Wald intervals (relative one by the delta method) and an unpooled z-test.

    control and treatment are (conversions, exposures). The z-test uses the unpooled
    variance, the one the interval uses, so "p < alpha" and "the interval excludes 0"
    always agree (with the pooled variance they can disagree near the boundary).
    """
    p_c, p_t, variance = lift_variance(control, treatment)
    z = z_critical(alpha)
    diff = p_t - p_c
    se = math.sqrt(variance)
    absolute_ci = Interval(diff - z * se, diff + z * se) if se > 0 else None
    p_value = two_sided_p(diff / se) if se > 0 else None
    relative, relative_ci = None, None
    if p_c > 0:
        relative = p_t / p_c - 1
        relative_se = _relative_lift_se(control, treatment)
        if relative_se > 0:
            relative_ci = Interval(relative - z * relative_se, relative + z * relative_se)
    return FixedHorizon(diff, absolute_ci, relative, relative_ci, p_value)


def _relative_lift_se(control: tuple[int, int], treatment: tuple[int, int]) -> float:
    """Delta-method standard error of p_t/p_c - 1 (independent arms, control rate > 0).

    The gradient of p_t/p_c is (1/p_c, -p_t/p_c^2), so the variance is
    Var(p_t)/p_c^2 + p_t^2 Var(p_c)/p_c^4.
    """
    (c_conv, c_exp), (t_conv, t_exp) = control, treatment
    p_c, p_t = c_conv / c_exp, t_conv / t_exp
    var_c, var_t = p_c * (1 - p_c) / c_exp, p_t * (1 - p_t) / t_exp
    return math.sqrt(var_t / p_c**2 + p_t**2 * var_c / p_c**4)


def chance_to_beat(
    control: tuple[int, int],
    treatment: tuple[int, int],
    *,
    prior: tuple[int, int] = (1, 1),
) -> float:
    """P(treatment rate > control rate) under independent Beta-Binomial posteriors, exactly.

    Prior Beta(a, b) (default Beta(1, 1), uniform); the posterior of a variant is
    Beta(a + conversions, b + non-conversions). Evan Miller's closed form,
        P(B > A) = sum_{i=0}^{aB-1} B(aA+i, bA+bB) / ((bB+i) B(1+i, bB) B(aA, bA)),
    needs an integer aB, hence integer prior parameters; each term is summed in logs.
    """
    a, b = prior
    if a < 1 or b < 1:
        raise ValueError("the prior's parameters must be positive integers")
    (c_conv, c_exp), (t_conv, t_exp) = control, treatment
    _check_counts(c_conv, c_exp)
    _check_counts(t_conv, t_exp)
    alpha_a, beta_a = a + c_conv, b + c_exp - c_conv
    alpha_b, beta_b = a + t_conv, b + t_exp - t_conv
    i = np.arange(alpha_b, dtype=np.float64)
    log_terms = (
        betaln(alpha_a + i, beta_a + beta_b)
        - np.log(beta_b + i)
        - betaln(1 + i, beta_b)
        - betaln(alpha_a, beta_a)
    )
    return min(1.0, float(np.exp(logsumexp(log_terms))))


def _check_counts(conversions: int, exposures: int) -> None:
    """Refuses counts no test can have (negative, or more conversions than exposures)."""
    if exposures < 0 or conversions < 0 or conversions > exposures:
        raise ValueError("counts need 0 <= conversions <= exposures")
