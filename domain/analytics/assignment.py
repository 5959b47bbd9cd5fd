"""Sticky split-test assignment: a visitor's variant from a stable hash, with no side effect."""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

# Splits are resolved to basis points: a percent may have up to two decimals (33.33).
BASIS_POINTS = 10_000


@dataclass(frozen=True)
class VariantSplit:
    """One variant's share of the traffic, in percent (the shares of a test sum to 100)."""

    key: str
    percent: float


def split_basis_points(variants: Sequence[VariantSplit]) -> list[int]:
    """Each variant's share in basis points; refuses splits that do not sum to 100."""
    if not variants:
        raise ValueError("a split test needs at least one variant")
    if not all(math.isfinite(v.percent) for v in variants):
        raise ValueError("each split is a percent from 0 to 100 with at most two decimals")
    points = [round(v.percent * 100) for v in variants]
    if any(p < 0 for p in points) or any(
        abs(p - v.percent * 100) > 1e-6 for p, v in zip(points, variants, strict=True)
    ):
        raise ValueError("each split is a percent from 0 to 100 with at most two decimals")
    if sum(points) != BASIS_POINTS:
        raise ValueError("the splits must sum to 100")
    if len({v.key for v in variants}) != len(variants):
        raise ValueError("variant keys must be unique")
    return points


def bucket(test_id: str, visitor_id: str) -> int:
    """The visitor's bucket in [0, 10000) for this test: SHA-256, never Python's salted hash()."""
    digest = hashlib.sha256(f"{test_id}:{visitor_id}".encode()).digest()
    # Multiply-shift maps 64 uniform bits onto the buckets with no modulo bias worth naming.
    return (int.from_bytes(digest[:8], "big") * BASIS_POINTS) >> 64


def assign(
    test_id: str,
    visitor_id: str,
    variants: Sequence[VariantSplit],
    *,
    winner: str | None = None,
) -> str:
    """The variant key this visitor sees: the declared winner if any, else by bucket and split.

    The variants' order is part of the test (keep it fixed, e.g. by creation): the same
    (test, visitor, splits) always gives the same answer, in any process, paused or not.
    """
    points = split_basis_points(variants)
    if winner is not None:
        if winner not in {v.key for v in variants}:
            raise ValueError("the winner must be one of the test's variants")
        return winner
    # The first variant whose cumulative share exceeds the slot (a 0% variant never does).
    index = bisect.bisect_right(list(accumulate(points)), bucket(test_id, visitor_id))
    return variants[index].key
