"""Outgoing webhooks: the SSRF guard, the pinned HTTP client and Standard Webhooks signing.

See docs/webhooks.md. Subscriptions, deliveries and their schedule come later.
"""
