"""Which broker queue a task goes to: by the context its name starts with."""

from __future__ import annotations

QUEUES = ("payments", "webhooks", "integrations", "analytics", "default")

_QUEUE_OF_CONTEXT = {
    "orders": "payments",
    "payments": "payments",
    "webhooks": "webhooks",
    "integrations": "integrations",
    "analytics": "analytics",
}


def queue_for(task_name: str) -> str:
    """The queue of a task named '<context>.<verb>'."""
    return _QUEUE_OF_CONTEXT.get(task_name.split(".", 1)[0], "default")
