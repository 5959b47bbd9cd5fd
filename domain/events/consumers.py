"""Every consumer of the feed, imported in one place (as domain/models.py is for tables).

A context that reads the feed keeps its handlers in its own module, registered with
`feed.consumer(...)`, and that module is imported here, so every worker and the metrics
see the same consumers.
"""

# analytics.facts (server facts), integrations.email_push (new opt-ins and buyers to the
# email providers), webhooks.deliveries.
import domain.analytics.consumers
import domain.integrations.feed
import domain.integrations.webhooks.consumer  # noqa: F401
