"""Names of the analytics tasks, defined once: beat schedules them, workers register them."""

DRAIN = "analytics.drain"
"""Reads the events stream through the `drain` group into analytics_events (beat, every second)."""
MAINTAIN_PARTITIONS = "analytics.maintain_partitions"
"""Makes the monthly partitions ahead and drops those past retention (beat, hourly)."""
