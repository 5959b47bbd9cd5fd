"""Always-valid inference: the normal-mixture sequential probability ratio test (mSPRT).

Johari, Pekelis, Koomen and Walsh, "Peeking at A/B Tests" (KDD 2017; Operations Research
2022). The estimate of the lift, theta_hat = p_t - p_c, is treated as normal with the
unpooled plug-in variance v of the fixed-horizon interval; the likelihood ratio of
"theta ~ N(0, tau^2)" against "theta = 0", mixed over that prior, is

    Lambda = sqrt(v / (v + tau^2)) * exp(tau^2 theta_hat^2 / (2 v (v + tau^2))).

Under no difference Lambda is a nonnegative martingale of mean 1, so by Ville's inequality
P(Lambda ever reaches 1/alpha) <= alpha: p = min(1, 1/Lambda) may be read at every look
and a winner called the first time p <= alpha. Inverting the test at each theta_0 gives
the confidence sequence, an interval that holds at every look at once. tau (the setting
SPLIT_TEST_MSPRT_TAU) is the spread of lifts one expects, in absolute rate: the test is
most sensitive to lifts near it, and remains valid whatever it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from domain.analytics.split_stats import Interval, lift_variance


@dataclass(frozen=True)
class AlwaysValid:
    """mSPRT figures of a treatment against control, valid however often they are looked at."""

    p_value: float
    absolute_lift_ci: Interval | None


def msprt_log_ratio(theta_hat: float, variance: float, tau: float) -> float:
    """log Lambda of the normal mixture (mixing N(0, tau^2) over the lift) at variance > 0."""
    tau2 = tau * tau
    return 0.5 * math.log(variance / (variance + tau2)) + (
        tau2 * theta_hat * theta_hat / (2 * variance * (variance + tau2))
    )


def msprt(
    control: tuple[int, int],
    treatment: tuple[int, int],
    *,
    alpha: float,
    tau: float,
    previous_p: float | None = None,
) -> AlwaysValid:
    """The always-valid p-value and confidence sequence of the absolute lift at this look.

    control and treatment are (conversions, exposures). previous_p, when the caller kept
    the last look's p-value, makes the p-value never rise again (the running minimum the
    paper defines); without it the p-value is this look's, and "p <= alpha at some look"
    still has error at most alpha.
    """
    if tau <= 0:
        raise ValueError("tau must be positive")
    p_c, p_t, variance = lift_variance(control, treatment)
    theta_hat = p_t - p_c
    if variance <= 0:
        # Both rates at 0 or 1: no evidence either way yet, and no interval to show.
        return AlwaysValid(1.0 if previous_p is None else previous_p, None)
    log_ratio = msprt_log_ratio(theta_hat, variance, tau)
    p_value = 1.0 if log_ratio <= 0 else math.exp(-log_ratio)
    if previous_p is not None:
        p_value = min(p_value, previous_p)
    tau2 = tau * tau
    # |theta_hat - theta_0| at which Lambda(theta_0) reaches 1/alpha.
    half = math.sqrt(
        variance
        * (variance + tau2)
        / tau2
        * (2 * math.log(1 / alpha) + math.log((variance + tau2) / variance))
    )
    return AlwaysValid(p_value, Interval(theta_hat - half, theta_hat + half))
