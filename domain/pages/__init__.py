"""Pages: element trees, safe rendering, published versions, assets."""
