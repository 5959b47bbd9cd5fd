"""Funnel analytics: tracking, rollups, split tests (the statistics are pure functions)."""
