"""The events feed: the catalogue of event types and the consumers that read them in order."""
