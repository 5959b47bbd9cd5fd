"""Split-test statistics: false-winner rates under peeking, power, and the cost of a result.

Run with `.venv/bin/python -m bench.split_tests` (about a minute; no servers). Each row
simulates A/A tests (or a true lift) seeded and bounded: every look adds a batch of
visitors to each arm and asks the product's rule (domain.analytics.split_results.analyse,
mSPRT) and a fixed-horizon p-value read at the same looks whether there is a winner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from domain.analytics.split_results import VariantCounts, analyse
from domain.analytics.split_stats import fixed_horizon

ALPHA, MIN_SAMPLE = 0.05, 100


@dataclass(frozen=True)
class Scenario:
    """One simulated setting: arms, base rate, lift of the last arm, looks, batch, tau."""

    name: str
    arms: int = 2
    rate: float = 0.10
    lift: float = 0.0
    looks: int = 30
    batch: int = 200
    tau: float = 0.02
    tests: int = 1000


SCENARIOS = [
    Scenario("A/A 10%, 30 looks x 200"),
    Scenario("A/A 2%, 60 looks x 100", rate=0.02, looks=60, batch=100),
    Scenario("A/A 10%, 3 arms", arms=3),
    Scenario("A/A 10%, tau 0.005", tau=0.005),
    Scenario("A/A 10%, tau 0.1", tau=0.1),
    Scenario("lift 10% -> 12%", lift=0.02, tests=300),
    Scenario("lift 10% -> 11%", lift=0.01, tests=300),
]


def _one_test(rng: np.random.Generator, s: Scenario) -> tuple[bool, bool, bool, int | None]:
    """(mSPRT winner at any look, fixed-horizon at any look, at the last look only, look)."""
    rates = [s.rate] * (s.arms - 1) + [s.rate + s.lift]
    paths = [rng.binomial(s.batch, r, size=s.looks).cumsum() for r in rates]
    # equal shares in hundredths of a percent, the rounding left over on the control
    shares = [round(100 / s.arms, 2)] * s.arms
    shares[0] = round(100 - sum(shares[1:]), 2)
    msprt_look, fixed, last = None, False, False
    for look in range(s.looks):
        n = s.batch * (look + 1)
        counts = [
            VariantCounts(f"v{i}", share, n, int(path[look]))
            for i, (share, path) in enumerate(zip(shares, paths, strict=True))
        ]
        if msprt_look is None:
            result = analyse(counts, alpha=ALPHA, tau=s.tau, min_sample=MIN_SAMPLE)
            if result.winner is not None:
                msprt_look = look + 1
        for treatment in paths[1:]:
            p = fixed_horizon((int(paths[0][look]), n), (int(treatment[look]), n), alpha=ALPHA)
            significant = p.p_value is not None and p.p_value < ALPHA / (s.arms - 1)
            fixed = fixed or significant
            last = last or (significant and look == s.looks - 1)
    return msprt_look is not None, fixed, last, msprt_look


def main() -> None:
    """Print one row per scenario, then the time of one analyse() call."""
    print(
        "| scenario | tests | mSPRT, any look | fixed-horizon, any look "
        "| fixed-horizon, last look only | median look of the mSPRT call |"
    )
    print("|---|---|---|---|---|---|")
    for s in SCENARIOS:
        rng = np.random.default_rng(20261201)
        runs = [_one_test(rng, s) for _ in range(s.tests)]
        msprt = np.mean([r[0] for r in runs])
        fixed = np.mean([r[1] for r in runs])
        last = np.mean([r[2] for r in runs])
        looks = [r[3] for r in runs if r[3] is not None]
        median = f"{np.median(looks):.0f} of {s.looks}" if looks else "-"
        print(f"| {s.name} | {s.tests} | {msprt:.3f} | {fixed:.3f} | {last:.3f} | {median} |")
    counts = [VariantCounts("a", 50, 50_000, 5_000), VariantCounts("b", 50, 50_000, 5_300)]
    start = time.perf_counter()
    for _ in range(200):
        analyse(counts, alpha=ALPHA, tau=0.02, min_sample=MIN_SAMPLE)
    per_call = (time.perf_counter() - start) / 200 * 1000
    print(f"\nanalyse(), 2 arms x 50,000 exposures: {per_call:.2f} ms per call")


if __name__ == "__main__":
    main()
