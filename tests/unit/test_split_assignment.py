"""Sticky assignment: deterministic in any process, true to the split; a winner takes all."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from scipy import stats

from domain.analytics.assignment import VariantSplit, assign, bucket

SPLIT = [VariantSplit("control", 50), VariantSplit("b", 30), VariantSplit("c", 20)]
TEST_ID = "6f1c2a7e-4d0b-4a43-9c55-0d6c2a0e8b11"


def test_bucket_is_sha256_of_test_and_visitor() -> None:
    digest = hashlib.sha256(b"t-1:visitor-42").hexdigest()
    assert bucket("t-1", "visitor-42") == int(digest[:16], 16) * 10_000 // 2**64


def test_over_100000_visitors_the_split_holds() -> None:
    counts = {v.key: 0 for v in SPLIT}
    for n in range(100_000):
        counts[assign(TEST_ID, f"visitor-{n}", SPLIT)] += 1
    observed = [counts[v.key] for v in SPLIT]
    expected = [100_000 * v.percent / 100 for v in SPLIT]
    # the SRM threshold: a correct assigner fails it one time in a thousand
    assert stats.chisquare(observed, expected).pvalue > 0.001
    assert all(abs(o - e) / e < 0.02 for o, e in zip(observed, expected, strict=True))


def test_assignment_is_sticky_and_independent_of_hash_seed() -> None:
    visitors = [f"visitor-{n}" for n in range(200)]
    here = [assign(TEST_ID, v, SPLIT) for v in visitors]
    assert here == [assign(TEST_ID, v, SPLIT) for v in visitors]
    code = (
        "from domain.analytics.assignment import VariantSplit, assign\n"
        "split = [VariantSplit('control', 50), VariantSplit('b', 30), VariantSplit('c', 20)]\n"
        f"print(','.join(assign({TEST_ID!r}, f'visitor-{{n}}', split) for n in range(200)))\n"
    )
    # another interpreter with another str-hash seed: Python's hash() would differ here
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert other.stdout.strip().split(",") == here


def test_tests_assign_independently() -> None:
    first = [assign("test-a", f"v{n}", SPLIT) for n in range(500)]
    second = [assign("test-b", f"v{n}", SPLIT) for n in range(500)]
    assert first != second


def test_a_declared_winner_takes_all_traffic() -> None:
    assert {assign(TEST_ID, f"visitor-{n}", SPLIT, winner="c") for n in range(1000)} == {"c"}
    with pytest.raises(ValueError, match="winner"):
        assign(TEST_ID, "visitor-1", SPLIT, winner="nope")


def test_two_decimal_splits_and_zero_shares() -> None:
    thirds = [VariantSplit("a", 33.33), VariantSplit("b", 33.33), VariantSplit("c", 33.34)]
    assert {assign(TEST_ID, f"v{n}", thirds) for n in range(300)} == {"a", "b", "c"}
    off = [VariantSplit("a", 100), VariantSplit("b", 0)]
    assert {assign(TEST_ID, f"v{n}", off) for n in range(300)} == {"a"}


@pytest.mark.parametrize(
    "variants",
    [
        [],
        [VariantSplit("a", 60), VariantSplit("b", 30)],
        [VariantSplit("a", 110), VariantSplit("b", -10)],
        [VariantSplit("a", 50.005), VariantSplit("b", 49.995)],
        [VariantSplit("a", 50), VariantSplit("a", 50)],
        [VariantSplit("a", float("nan")), VariantSplit("b", 50)],
    ],
)
def test_bad_splits_are_refused(variants: list[VariantSplit]) -> None:
    with pytest.raises(ValueError, match=r"variant|split"):
        assign(TEST_ID, "visitor-1", variants)
