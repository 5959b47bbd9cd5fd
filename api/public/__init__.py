"""Visitor-facing routes: published funnel pages (HTML)."""
