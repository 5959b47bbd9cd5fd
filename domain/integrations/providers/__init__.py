"""Email providers over their HTTP APIs: one adapter each behind the EmailProvider interface."""

from domain.integrations.providers.activecampaign import ActiveCampaignProvider
from domain.integrations.providers.base import (
    Contact,
    ContactOutcome,
    ContactResult,
    EmailProvider,
    ProviderList,
)
from domain.integrations.providers.mailchimp import MailchimpProvider
from domain.integrations.providers.sendgrid import SendGridProvider

__all__ = [
    "ActiveCampaignProvider",
    "Contact",
    "ContactOutcome",
    "ContactResult",
    "EmailProvider",
    "MailchimpProvider",
    "ProviderList",
    "SendGridProvider",
]
