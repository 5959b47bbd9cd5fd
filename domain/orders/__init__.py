"""Orders and payments: checkouts charged through Stripe, upsells, refunds."""
