"""Visitor-facing routes: published funnel pages (HTML), their forms and scripts."""
