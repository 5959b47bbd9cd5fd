"""Email-provider integrations."""
