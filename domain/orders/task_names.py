"""Names of the payments tasks, defined once: services enqueue them, workers register them."""

SETTLE_ORDER = "payments.settle_order"
CANCEL_ORDER = "payments.cancel_order"
CHARGE_UPSELL = "payments.charge_upsell"
REFUND = "payments.refund"
SYNC_REFUND = "payments.sync_refund"
EXPIRE_ORDERS = "payments.expire_orders"
