"""Peeking after every batch: the mSPRT keeps its error rate, fixed-horizon p-values do not.

A seeded simulation of A/A tests (no true difference). Each test adds a batch of visitors to
both arms and looks after every batch, as a merchant checking daily would; a "false winner"
is any look at which the rule calls a winner. The printed rates are the figures quoted in
docs/split-tests.md (pytest -s shows them).
"""

from __future__ import annotations

import numpy as np

from domain.analytics.split_results import VariantCounts, analyse
from domain.analytics.split_stats import fixed_horizon

ALPHA, TAU, MIN_SAMPLE = 0.05, 0.02, 100
TESTS, LOOKS, BATCH, RATE = 1500, 30, 200, 0.10


def _paths(rng: np.random.Generator, lift: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative conversions per look for every simulated test: (control, treatment)."""
    control = rng.binomial(BATCH, RATE, size=(TESTS, LOOKS)).cumsum(axis=1)
    treatment = rng.binomial(BATCH, RATE + lift, size=(TESTS, LOOKS)).cumsum(axis=1)
    return control, treatment


def _msprt_calls_winner(control: np.ndarray, treatment: np.ndarray) -> bool:
    """True when the product's rule (analyse) names a winner at any look of one test."""
    for look in range(LOOKS):
        n = BATCH * (look + 1)
        result = analyse(
            [
                VariantCounts("control", 50, n, int(control[look])),
                VariantCounts("b", 50, n, int(treatment[look])),
            ],
            alpha=ALPHA,
            tau=TAU,
            min_sample=MIN_SAMPLE,
        )
        if result.winner is not None:
            return True
    return False


def _fixed_horizon_calls_winner(control: np.ndarray, treatment: np.ndarray) -> bool:
    """True when a fixed-horizon p-value read at every look is ever below alpha."""
    for look in range(LOOKS):
        n = BATCH * (look + 1)
        p = fixed_horizon((int(control[look]), n), (int(treatment[look]), n), alpha=ALPHA).p_value
        if p is not None and p < ALPHA:
            return True
    return False


def test_peeking_keeps_the_msprt_false_winner_rate_near_alpha() -> None:
    control, treatment = _paths(np.random.default_rng(20261201), lift=0.0)
    msprt_rate = np.mean(
        [_msprt_calls_winner(c, t) for c, t in zip(control, treatment, strict=True)]
    )
    fixed_rate = np.mean(
        [_fixed_horizon_calls_winner(c, t) for c, t in zip(control, treatment, strict=True)]
    )
    print(f"A/A, {TESTS} tests x {LOOKS} looks: mSPRT {msprt_rate:.3f}, fixed {fixed_rate:.3f}")
    # standard error at 0.05 over 1500 tests is 0.0056: 0.07 is over three of them
    assert msprt_rate <= 0.07
    assert fixed_rate > 0.15


def test_the_msprt_still_finds_a_real_lift() -> None:
    control, treatment = _paths(np.random.default_rng(7), lift=0.03)
    found = np.mean(
        [_msprt_calls_winner(c, t) for c, t in zip(control[:300], treatment[:300], strict=True)]
    )
    print(f"lift 10% -> 13%, 300 tests x {LOOKS} looks: mSPRT found it in {found:.3f}")
    assert found > 0.8
