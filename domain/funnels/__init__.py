"""Funnels: ordered steps, publishing with snapshots, templates."""
