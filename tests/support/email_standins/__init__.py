"""Local stand-ins of the Mailchimp, SendGrid and ActiveCampaign APIs for the tests."""

from tests.support.email_standins.activecampaign import ActiveCampaignStandin
from tests.support.email_standins.mailchimp import MailchimpStandin, md5_lower
from tests.support.email_standins.sendgrid import SendGridStandin
from tests.support.email_standins.server import Standin

__all__ = [
    "ActiveCampaignStandin",
    "MailchimpStandin",
    "SendGridStandin",
    "Standin",
    "md5_lower",
]
