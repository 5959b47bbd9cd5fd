"""The one settings object: every variable is documented in .env.example."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.shared.durations import parse_schedule

DEFAULT_SECRET_KEY = "dev-secret-change-me-dev-secret-change-me"  # noqa: S105 - refused outside development
# Email-provider credentials' development key (a Fernet key); refused in production.
DEFAULT_INTEGRATIONS_KEY = "ZGV2LWludGVncmF0aW9ucy1rZXktY2hhbmdlLW1lLTA="


class Settings(BaseSettings):
    """Configuration read from the environment (and an optional .env file)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = DEFAULT_SECRET_KEY

    database_url: str | None = None
    redis_url: str | None = None
    celery_broker_url: str | None = None
    db_pool_size: int = 10

    # Unset or placeholder: payments are off (checkout 503 payments_not_configured, the Stripe
    # webhook refuses every event); see missing_payment_settings.
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str | None = None
    stripe_timeout_seconds: float = Field(default=10.0, gt=0)
    aws_s3_bucket: str | None = None
    aws_s3_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    asset_dir: str = ".data/assets"
    asset_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    asset_base_url: str = "/media"

    stripe_js_url: str = "https://js.stripe.com/v3/"
    youtube_embed_base: str = "https://www.youtube-nocookie.com/embed/"
    vimeo_embed_base: str = "https://player.vimeo.com/video/"

    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_days: int = Field(default=30, gt=0)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    # How long after its order was created a checkout page's customer_token answers bumps
    # and one-click offers (the buyer may linger on an upsell page; a leaked token expires).
    customer_token_ttl_minutes: int = Field(default=60, gt=0)

    # `limits` strings; several windows are separated by ";" and all of them apply.
    rate_limit_enabled: bool = True
    rate_limit_user: str = "100/10 seconds;200000/day"
    rate_limit_account: str = "1000/10 seconds;1000000/day"
    rate_limit_tracking: str = "5000/10 seconds;20000000/day"
    rate_limit_tracking_client: str = "200/10 seconds;50000/day"
    rate_limit_login: str = "10/minute"
    trusted_proxies: str = ""

    max_body_bytes: int = Field(default=1_048_576, gt=0)
    idempotency_ttl_hours: int = Field(default=24, gt=0)

    outbox_relay_grace_seconds: int = Field(default=5, ge=0)
    job_requeue_after_seconds: int = Field(default=1800, gt=0)
    # Retry schedules per kind of work (see domain/jobs/schedules.py). The payments one must
    # end inside Stripe's 24-hour idempotency window, jitter included (checked below).
    retry_schedule_payments: str = "1m,5m,15m,30m,1h,2h,3h,5h,8h"
    retry_schedule_webhooks: str = "5s,5m,30m,2h,5h,10h,10h"
    retry_schedule_integrations: str = "1m,5m,30m,2h,5h,10h,10h"
    retry_schedule_default: str = "10s,1m,5m,30m,2h,6h"
    retry_jitter: float = Field(default=0.1, ge=0, lt=1)
    # Looking again at something expected (a checkout being paid): the last wait repeats.
    wait_schedule: str = "5s,15s,1m,5m,15m,1h"
    celery_max_countdown_seconds: int = Field(default=60, ge=0)
    # A money call first tried this long ago may be past Stripe's memory of its key: look
    # the object up by our id in its metadata before calling again.
    stripe_key_window_hours: float = Field(default=23.0, gt=0, le=24)
    order_payment_timeout_minutes: int = Field(default=120, gt=0)
    broker_visibility_timeout_seconds: int = Field(default=3600, gt=0)
    broker_publish_timeout_seconds: float = Field(default=2.0, gt=0)

    # Retention (docs/retention.md): beat trims what only grows, hourly, in bounded batches.
    outbox_retention_days: int = Field(default=7, gt=0)
    stripe_events_retention_days: int = Field(default=30, gt=3)
    jobs_retention_days: int = Field(default=30, gt=0)
    refresh_tokens_retention_days: int = Field(default=7, ge=0)
    retention_batch_size: int = Field(default=1000, gt=0)
    retention_max_batches: int = Field(default=50, gt=0)
    events_retention_days: int = Field(default=30, gt=0)
    events_batch_size: int = Field(default=200, gt=0, le=10_000)

    allow_private_webhook_urls: bool = False
    # Outgoing webhooks (docs/webhooks.md): per-attempt timeout, deliveries in flight per
    # worker process and per endpoint, the longest Retry-After honoured, days of continuous
    # failure that disable an endpoint, days deliveries and attempts are kept.
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=100, gt=0, le=1000)
    webhook_endpoint_concurrency: int = Field(default=4, gt=0, le=100)
    webhook_retry_after_cap_seconds: int = Field(default=3600, ge=0)
    webhook_disable_after_days: float = Field(default=5.0, gt=0)
    webhook_deliveries_retention_days: int = Field(default=30, gt=0)

    # Email-provider integrations (docs/integrations.md): Fernet keys for credentials at rest
    # (comma-separated; the first encrypts, all decrypt), how long sync logs are kept, and
    # each provider's API address (unset: the real one; tests point them at stand-ins).
    integrations_encryption_keys: str = DEFAULT_INTEGRATIONS_KEY
    integration_sync_logs_retention_days: int = Field(default=90, gt=0)
    mailchimp_api_base: str | None = None
    sendgrid_api_base: str | None = None
    activecampaign_api_base: str | None = None

    # Analytics rollup (docs/analytics.md): how often beat runs it, and events per batch
    # (one transaction: the groups they touch recomputed whole, and the watermark).
    analytics_rollup_interval_seconds: float = Field(default=60.0, ge=1)
    analytics_rollup_batch_size: int = Field(default=50_000, gt=0, le=5_000_000)

    # Split tests (docs/split-tests.md): the error rate of a winner call, the normal mixture's
    # spread of lifts for the always-valid mSPRT (absolute rate), exposures per variant first.
    split_test_alpha: float = Field(default=0.05, gt=0, lt=0.5)
    split_test_msprt_tau: float = Field(default=0.02, gt=0, le=1)
    split_test_min_sample: int = Field(default=100, ge=1)

    # Visitor pages (docs/visitors.md): the publishable key Stripe.js gets on order forms,
    # how long a visitor's session lives without a page view, the visitor cookie's life,
    # and the opt-in form's per-address limit (`limits` string).
    stripe_publishable_key: str = ""
    visitor_session_idle_minutes: int = Field(default=30, gt=0)
    visitor_cookie_days: int = Field(default=365, gt=0)
    rate_limit_optin: str = "5/minute;50/day"
    # Analytics drain and partitions (domain/analytics/drain.py, partitions.py; docs/analytics.md):
    # events per drain transaction, how long one drain task goes on while there is a backlog,
    # when another consumer's pending entries are taken over, and months of raw events kept.
    analytics_drain_batch_events: int = Field(default=20_000, gt=0, le=100_000)
    analytics_drain_run_seconds: float = Field(default=20.0, gt=0)
    analytics_drain_claim_idle_seconds: float = Field(default=60.0, gt=0)
    analytics_events_retention_months: int = Field(default=13, ge=1)
    # Analytics ingestion (domain/analytics/ingest.py, api/routes/analytics.py, docs/analytics.md):
    # how late and how early an event's occurred_at may be, how long a publishable key's and a
    # funnel's owner are remembered in the API process, Redis' deadline, the realtime windows.
    analytics_late_event_days: int = Field(default=7, ge=0, le=365)
    analytics_future_skew_seconds: int = Field(default=300, ge=0, le=86_400)
    analytics_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    analytics_queue_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    analytics_realtime_minutes: int = Field(default=30, ge=1, le=120)
    analytics_active_minutes: int = Field(default=5, ge=1, le=120)

    # /metrics: when set, scrapes need `Authorization: Bearer <token>`; unset in
    # production, /metrics is a 404 (never open to the internet by accident).
    metrics_token: str | None = Field(default=None, min_length=16, max_length=256)

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        """`METRICS_TOKEN=` (as compose passes an unset variable) means no token."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        """Outside development a real SECRET_KEY is mandatory."""
        if self.environment == "development":
            return self
        if self.secret_key == DEFAULT_SECRET_KEY:
            raise ValueError("SECRET_KEY must be set to a secret value outside development")
        if len(self.secret_key) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters long")
        return self

    @model_validator(mode="after")
    def _integrations_keys_valid(self) -> Settings:
        """Fernet keys (32 url-safe base64 bytes); the development key is refused in production."""
        keys = [k.strip() for k in self.integrations_encryption_keys.split(",") if k.strip()]
        if not keys or not all(_fernet_key(k) for k in keys):
            raise ValueError("INTEGRATIONS_ENCRYPTION_KEYS must list Fernet keys, comma-separated")
        if self.environment == "production" and DEFAULT_INTEGRATIONS_KEY in keys:
            raise ValueError("INTEGRATIONS_ENCRYPTION_KEYS must be set to keys of your own")
        return self

    @model_validator(mode="after")
    def _limits_parse(self) -> Settings:
        """A rate limit or proxy list that does not parse is refused at start, not per request."""
        for name in (
            "rate_limit_user",
            "rate_limit_account",
            "rate_limit_tracking",
            "rate_limit_tracking_client",
            "rate_limit_login",
            "rate_limit_optin",
        ):
            try:
                parse_many(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name.upper()}: {exc}") from exc
        trusted_networks(self.trusted_proxies)
        return self

    @model_validator(mode="after")
    def _requeue_after_outlasts_countdowns(self) -> Settings:
        """A job waiting out a Celery countdown must not look lost to the sweep."""
        if self.job_requeue_after_seconds <= self.celery_max_countdown_seconds:
            raise ValueError("JOB_REQUEUE_AFTER_SECONDS must exceed CELERY_MAX_COUNTDOWN_SECONDS")
        return self

    @model_validator(mode="after")
    def _schedules_valid(self) -> Settings:
        """Every schedule parses, and payments retries end while Stripe remembers the key."""
        for name in ("payments", "webhooks", "integrations", "default"):
            parse_schedule(getattr(self, f"retry_schedule_{name}"))
        parse_schedule(self.wait_schedule)
        longest = sum(parse_schedule(self.retry_schedule_payments)) * (1 + self.retry_jitter)
        if longest >= self.stripe_key_window_hours * 3600:
            raise ValueError(
                "RETRY_SCHEDULE_PAYMENTS (with RETRY_JITTER) must end within "
                "STRIPE_KEY_WINDOW_HOURS of the first attempt"
            )
        return self

    def missing_payment_settings(self) -> list[str]:
        """The Stripe settings that are unset or placeholders (payments stay off until none)."""
        missing = []
        if not _real_secret(self.stripe_api_key, ("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            missing.append("STRIPE_API_KEY")
        if not webhook_secret_usable(self.stripe_webhook_secret):
            missing.append("STRIPE_WEBHOOK_SECRET")
        return missing

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL with the psycopg 3 driver named, as SQLAlchemy wants it."""
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set (./dev up sets it for you)")
        url = self.database_url
        for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def broker_url(self) -> str:
        """The Celery broker: CELERY_BROKER_URL, else REDIS_URL."""
        url = self.celery_broker_url or self.redis_url
        if not url:
            raise RuntimeError("REDIS_URL is not set (./dev up sets it for you)")
        return url


# Words that mark a value copied from an example rather than a secret someone was given.
_PLACEHOLDER_WORDS = ("placeholder", "change-me", "changeme", "change_me", "example", "dummy")


def _real_secret(value: str, prefixes: tuple[str, ...]) -> bool:
    """True when value looks like a secret Stripe issued: its prefix, a body, no placeholder.

    A placeholder must never authenticate anything: anyone can read it in .env.example and
    sign a webhook event with it.
    """
    prefix = next((p for p in prefixes if value.startswith(p)), None)
    if prefix is None or len(value) - len(prefix) < 16:
        return False
    lowered = value.lower()
    return not any(word in lowered for word in _PLACEHOLDER_WORDS)


def _fernet_key(key: str) -> bool:
    """Whether key is 32 bytes in url-safe base64 (what Fernet takes)."""
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, binascii.Error):
        return False


def webhook_secret_usable(secret: str) -> bool:
    """True when a Stripe webhook signing secret is a real one (not unset, not a placeholder)."""
    return _real_secret(secret, ("whsec_",))


@lru_cache(maxsize=8)
def trusted_networks(spec: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """TRUSTED_PROXIES parsed: comma-separated addresses or CIDR networks."""
    return tuple(ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
