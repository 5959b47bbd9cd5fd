"""Every table's model, imported in one place for Alembic and the tests."""

from domain.accounts.models import Account, ApiKey, AuthSession, RefreshToken, User
from domain.contacts.models import Contact
from domain.jobs.models import Job, OutboxMessage
from domain.products.models import Product
from domain.shared.db import Base
from domain.shared.events import DomainEvent
from domain.shared.idempotency import IdempotencyRecord

__all__ = [
    "Account",
    "ApiKey",
    "AuthSession",
    "Base",
    "Contact",
    "DomainEvent",
    "IdempotencyRecord",
    "Job",
    "OutboxMessage",
    "Product",
    "RefreshToken",
    "User",
]
