"""Names of the email-provider integration tasks: services enqueue them, workers register them."""

TEST = "integrations.test"
SYNC = "integrations.sync"  # every consenting contact changed since it was last pushed
PUSH = "integrations.push"  # a few named contacts (new opt-ins and buyers, from the feed)
ERASE = "integrations.erase"  # one person's record at one provider
