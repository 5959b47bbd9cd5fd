"""Names of the webhooks tasks, defined once: services enqueue them, workers register them."""

DISPATCH = "webhooks.dispatch"
"""Sends every due delivery (woken after the consumer commits, and by beat)."""
SEND_TEST = "webhooks.send_test"
"""A job: queue a test message to one endpoint."""
RECOVER = "webhooks.recover"
"""A job: resend an endpoint's failed deliveries since a time."""
