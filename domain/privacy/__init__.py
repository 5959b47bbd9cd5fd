"""Privacy: a person's erasure across the contexts that hold their data."""
