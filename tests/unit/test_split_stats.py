"""Split-test figures equal independent references (scipy, statsmodels) and a hand example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats._delta_method import NonlinearDeltaCov
from statsmodels.tools.numdiff import approx_fprime_cs

from domain.analytics.sequential import msprt, msprt_log_ratio
from domain.analytics.split_stats import (
    chance_to_beat,
    fixed_horizon,
    two_sided_p,
    wilson_interval,
    z_critical,
)

TOL = 1e-9
# (control conversions, control exposures, treatment conversions, treatment exposures)
CASES = [
    (100, 1000, 130, 1000),
    (37, 412, 29, 398),
    (1200, 25_000, 1310, 24_870),
    (3, 60, 9, 55),
    (480, 1000, 515, 1010),
]


def test_the_hand_worked_example() -> None:
    """Control 100/1000, treatment 130/1000, alpha 0.05, tau 0.02, worked on paper."""
    result = fixed_horizon((100, 1000), (130, 1000), alpha=0.05)
    # var = .1*.9/1000 + .13*.87/1000 = 2.031e-4, se = 0.0142513, z = 0.03/se = 2.10507
    assert result.absolute_lift == pytest.approx(0.03, abs=1e-12)
    assert result.p_value == pytest.approx(0.035284, abs=2e-5)
    assert result.absolute_lift_ci is not None
    assert result.absolute_lift_ci.low == pytest.approx(0.002068, abs=2e-6)
    assert result.absolute_lift_ci.high == pytest.approx(0.057932, abs=2e-6)
    # relative: 0.3; se^2 = 1.131e-4/.01 + .0169*9e-5/1e-4 = 0.02652, se = 0.162850
    assert result.relative_lift == pytest.approx(0.3, abs=1e-12)
    assert result.relative_lift_ci is not None
    assert result.relative_lift_ci.low == pytest.approx(-0.019180, abs=2e-6)
    assert result.relative_lift_ci.high == pytest.approx(0.619180, abs=2e-6)
    # mSPRT: sqrt(v/(v+tau^2)) = sqrt(2.031/6.031) = 0.580310,
    # exponent 4e-4 * 9e-4 / (2 * 2.031e-4 * 6.031e-4) = 1.469512, Lambda = 2.52270
    sequential = msprt((100, 1000), (130, 1000), alpha=0.05, tau=0.02)
    assert sequential.p_value == pytest.approx(1 / 2.52270, abs=2e-5)
    # the always-valid interval is wider than the fixed-horizon one and holds at every look
    assert sequential.absolute_lift_ci is not None
    assert sequential.absolute_lift_ci.low < result.absolute_lift_ci.low
    # Beta(1,1) prior, control 0/1 -> Beta(1,2), treatment 1/1 -> Beta(2,1):
    # P = integral of 2(1-a)(1-a^2) over [0,1] = 2(1 - 1/2 - 1/3 + 1/4) = 5/6
    assert chance_to_beat((0, 1), (1, 1)) == pytest.approx(5 / 6, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.1])
def test_normal_helpers_equal_scipy(alpha: float) -> None:
    assert z_critical(alpha) == pytest.approx(stats.norm.ppf(1 - alpha / 2), abs=TOL)
    for z in (0.0, 0.7, 1.96, -2.5, 4.2):
        assert two_sided_p(z) == pytest.approx(2 * stats.norm.sf(abs(z)), abs=TOL)


@pytest.mark.parametrize("case", CASES)
def test_absolute_lift_and_p_value_equal_statsmodels(case: tuple[int, int, int, int]) -> None:
    c_conv, c_exp, t_conv, t_exp = case
    result = fixed_horizon((c_conv, c_exp), (t_conv, t_exp), alpha=0.05)
    low, high = sm_proportion.confint_proportions_2indep(
        t_conv, t_exp, c_conv, c_exp, method="wald", compare="diff", alpha=0.05
    )
    reference = sm_proportion.test_proportions_2indep(
        t_conv, t_exp, c_conv, c_exp, method="wald", compare="diff", correction=False
    )
    assert result.absolute_lift_ci is not None
    assert result.absolute_lift_ci.low == pytest.approx(low, abs=TOL)
    assert result.absolute_lift_ci.high == pytest.approx(high, abs=TOL)
    assert result.p_value == pytest.approx(reference.pvalue, abs=TOL)


@pytest.mark.parametrize("case", CASES)
def test_relative_lift_interval_equals_statsmodels_delta_method(
    case: tuple[int, int, int, int],
) -> None:
    c_conv, c_exp, t_conv, t_exp = case
    result = fixed_horizon((c_conv, c_exp), (t_conv, t_exp), alpha=0.05)
    p = np.array([t_conv / t_exp, c_conv / c_exp])
    cov = np.diag([p[0] * (1 - p[0]) / t_exp, p[1] * (1 - p[1]) / c_exp])

    def ratio(x: np.ndarray) -> np.ndarray:
        return np.atleast_1d(x[0] / x[1] - 1)

    # statsmodels' delta method, the gradient by complex step (exact to rounding)
    delta = NonlinearDeltaCov(ratio, p, cov, deriv=lambda x: approx_fprime_cs(x, ratio))
    low, high = delta.conf_int(alpha=0.05)[0]
    assert result.relative_lift == pytest.approx(float(ratio(p)[0]), abs=TOL)
    assert result.relative_lift_ci is not None
    assert result.relative_lift_ci.low == pytest.approx(low, abs=TOL)
    assert result.relative_lift_ci.high == pytest.approx(high, abs=TOL)


@pytest.mark.parametrize(("conversions", "exposures"), [(0, 10), (7, 10), (130, 1000), (50, 50)])
def test_wilson_interval_equals_statsmodels(conversions: int, exposures: int) -> None:
    interval = wilson_interval(conversions, exposures, 0.05)
    low, high = sm_proportion.proportion_confint(
        conversions, exposures, alpha=0.05, method="wilson"
    )
    assert interval is not None
    assert interval.low == pytest.approx(low, abs=TOL)
    assert interval.high == pytest.approx(high, abs=TOL)


def _chance_by_quadrature(
    control: tuple[int, int], treatment: tuple[int, int], prior: tuple[int, int]
) -> float:
    """P(B > A) = integral of pdf_B(x) * cdf_A(x), by adaptive quadrature (scipy)."""
    a = stats.beta(prior[0] + control[0], prior[1] + control[1] - control[0])
    b = stats.beta(prior[0] + treatment[0], prior[1] + treatment[1] - treatment[0])
    # B's mass outside these quantiles is below 2e-15: integrate where it lives.
    low, high = b.ppf(1e-15), b.isf(1e-15)
    value, _ = integrate.quad(
        lambda x: b.pdf(x) * a.cdf(x), low, high, epsabs=1e-13, epsrel=1e-12, limit=200
    )
    return float(value)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("prior", [(1, 1), (2, 5)])
def test_chance_to_beat_equals_numerical_integration(
    case: tuple[int, int, int, int], prior: tuple[int, int]
) -> None:
    c_conv, c_exp, t_conv, t_exp = case
    exact = chance_to_beat((c_conv, c_exp), (t_conv, t_exp), prior=prior)
    reference = _chance_by_quadrature((c_conv, c_exp), (t_conv, t_exp), prior)
    assert exact == pytest.approx(reference, abs=TOL)


def test_chance_to_beat_is_symmetric() -> None:
    forward = chance_to_beat((100, 1000), (130, 1000))
    backward = chance_to_beat((130, 1000), (100, 1000))
    assert forward + backward == pytest.approx(1.0, abs=TOL)  # continuous: no ties


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("tau", [0.005, 0.02, 0.1])
def test_msprt_equals_the_mixture_integrated_numerically(
    case: tuple[int, int, int, int], tau: float
) -> None:
    c_conv, c_exp, t_conv, t_exp = case
    p_c, p_t = c_conv / c_exp, t_conv / t_exp
    v = p_c * (1 - p_c) / c_exp + p_t * (1 - p_t) / t_exp
    theta_hat = p_t - p_c

    def ratio_at(theta_0: float) -> float:
        # integral over theta ~ N(theta_0, tau^2) of the likelihood ratio against theta_0
        def integrand(theta: float) -> float:
            return float(
                stats.norm.pdf(theta_hat, theta, math.sqrt(v))
                / stats.norm.pdf(theta_hat, theta_0, math.sqrt(v))
                * stats.norm.pdf(theta, theta_0, tau)
            )

        span = 12 * max(tau, math.sqrt(v))
        value, _ = integrate.quad(
            integrand,
            theta_0 - span,
            theta_0 + span,
            points=[theta_hat],
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )
        return float(value)

    reference = ratio_at(0.0)
    assert math.exp(msprt_log_ratio(theta_hat, v, tau)) == pytest.approx(reference, rel=TOL)
    result = msprt((c_conv, c_exp), (t_conv, t_exp), alpha=0.05, tau=tau)
    assert result.p_value == pytest.approx(min(1.0, 1 / reference), abs=TOL)
    # the confidence sequence ends exactly where the test of theta_0 rejects at alpha
    assert result.absolute_lift_ci is not None
    for end in (result.absolute_lift_ci.low, result.absolute_lift_ci.high):
        assert ratio_at(end) == pytest.approx(1 / 0.05, rel=1e-8)


def test_previous_p_keeps_the_always_valid_p_value_from_rising() -> None:
    fresh = msprt((100, 1000), (130, 1000), alpha=0.05, tau=0.02)
    assert msprt((100, 1000), (130, 1000), alpha=0.05, tau=0.02, previous_p=0.2).p_value == 0.2
    assert msprt((100, 1000), (130, 1000), alpha=0.05, tau=0.02, previous_p=0.9).p_value == (
        fresh.p_value
    )


def test_undefined_figures_are_none_not_invented() -> None:
    both_zero = fixed_horizon((0, 100), (0, 100), alpha=0.05)
    assert both_zero.p_value is None
    assert both_zero.absolute_lift_ci is None
    assert both_zero.relative_lift is None
    all_converted = fixed_horizon((10, 10), (10, 10), alpha=0.05)
    assert all_converted.relative_lift == 0.0
    assert all_converted.relative_lift_ci is None
    assert msprt((0, 100), (0, 100), alpha=0.05, tau=0.02).p_value == 1.0
    assert wilson_interval(0, 0, 0.05) is None


@pytest.mark.parametrize("counts", [(-1, 10), (11, 10), (1, -1)])
def test_impossible_counts_are_refused(counts: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="conversions"):
        fixed_horizon(counts, (1, 10), alpha=0.05)
    with pytest.raises(ValueError, match="conversions"):
        chance_to_beat((1, 10), counts)


def test_arguments_no_comparison_can_use_are_refused() -> None:
    with pytest.raises(ValueError, match="exposures in both"):
        fixed_horizon((0, 0), (1, 10), alpha=0.05)
    with pytest.raises(ValueError, match="prior"):
        chance_to_beat((1, 10), (1, 10), prior=(0, 1))
    with pytest.raises(ValueError, match="tau"):
        msprt((1, 10), (2, 10), alpha=0.05, tau=0.0)
