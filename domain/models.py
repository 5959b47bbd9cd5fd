"""Every table's model, imported in one place for Alembic and the tests."""

from domain.accounts.models import Account, ApiKey, AuthSession, RefreshToken, User
from domain.analytics.models import AnalyticsEvent, AnalyticsVisitor
from domain.analytics.split_models import AbTest, AbTestVariant
from domain.analytics.stats_models import (
    AnalyticsRollupCursor,
    AnalyticsRollupState,
    FunnelStepStat,
)
from domain.contacts.models import Contact
from domain.events.models import EventConsumer
from domain.funnels.models import Funnel, FunnelStep, FunnelTemplate, FunnelVersion
from domain.integrations.models import Integration, IntegrationContact, IntegrationSyncLog
from domain.integrations.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from domain.jobs.models import Job, OutboxMessage
from domain.orders.models import (
    Dispute,
    Order,
    OrderBump,
    OrderCharge,
    OrderCounter,
    OrderItem,
    OrderUpsell,
    Refund,
    StripeEvent,
)
from domain.pages.models import Page, PageAsset, PageVersion
from domain.products.models import Product
from domain.shared.db import Base
from domain.shared.events import DomainEvent
from domain.shared.idempotency import IdempotencyRecord

__all__ = [
    "AbTest",
    "AbTestVariant",
    "Account",
    "AnalyticsEvent",
    "AnalyticsRollupCursor",
    "AnalyticsRollupState",
    "AnalyticsVisitor",
    "ApiKey",
    "AuthSession",
    "Base",
    "Contact",
    "Dispute",
    "DomainEvent",
    "EventConsumer",
    "Funnel",
    "FunnelStep",
    "FunnelStepStat",
    "FunnelTemplate",
    "FunnelVersion",
    "IdempotencyRecord",
    "Integration",
    "IntegrationContact",
    "IntegrationSyncLog",
    "Job",
    "Order",
    "OrderBump",
    "OrderCharge",
    "OrderCounter",
    "OrderItem",
    "OrderUpsell",
    "OutboxMessage",
    "Page",
    "PageAsset",
    "PageVersion",
    "Product",
    "RefreshToken",
    "Refund",
    "StripeEvent",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
