"""Integrations: outgoing webhooks and email-provider syncs."""
