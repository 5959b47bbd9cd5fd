"""The FastAPI application: routers, middleware, error handlers, /docs."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from api import errors, metrics, openapi
from api.middleware import BodySizeLimit, FastLane, OpenTracking, RateLimitHeaders
from api.public import forms as public_forms
from api.public import funnels as public_funnels
from api.routes import (
    account,
    analytics,
    analytics_reports,
    api_keys,
    auth,
    contacts,
    events,
    funnels,
    health,
    integrations,
    jobs,
    orders,
    page_assets,
    pages,
    products,
    split_tests,
    webhooks,
)
from domain.shared.settings import get_settings
from workers import publisher


def create_app() -> FastAPI:
    """Build the app from settings (tests build their own)."""
    settings = get_settings()
    app = FastAPI(
        title="Funnels API",
        version="0.1.0",
        description="Funnels, pages, orders through Stripe, analytics and integrations.",
        docs_url="/docs",
        redoc_url="/redoc",
    )
    for router in (
        analytics.router,  # first: the tracking routes are the hot path (routes match in order)
        health.router,
        metrics.router,
        auth.router,
        account.router,
        api_keys.router,
        jobs.router,
        products.router,
        contacts.router,
        events.router,
        funnels.router,
        public_funnels.router,
        public_forms.router,
        pages.router,
        page_assets.router,
        page_assets.media_router,
        orders.router,
        split_tests.router,
        integrations.router,
        webhooks.router,
        analytics_reports.router,
    ):
        app.include_router(router)
    errors.install(app)
    openapi.install(app)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(FastLane, routes=analytics.FAST_ROUTES)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        overrides=page_assets.body_limits(settings),
    )
    app.add_middleware(OpenTracking, paths=analytics.TRACK_PATHS)
    publisher.install()
    return app


app = create_app()
# Everything loaded so far lives as long as the process: move it out of the collector's
# sight, so full collections stop costing 30 ms pauses (measured in bench/pages.py).
gc.freeze()
