"""The visitor's side of a published funnel: identity cookies, consent, forms, offers."""
