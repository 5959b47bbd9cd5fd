"""GET /metrics: operators' gauges in the Prometheus text format, computed at scrape time.

Protection: with METRICS_TOKEN set, a scrape needs `Authorization: Bearer <token>`
(compared in constant time); unset in production, /metrics is a 404; unset elsewhere
(development, test), it is open. It is not part of the OpenAPI document.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event

from api.deps import SettingsDep
from domain.analytics import metrics as analytics_metrics
from domain.events import metrics as event_metrics
from domain.jobs import metrics as job_metrics
from domain.orders import metrics as order_metrics
from domain.shared.db import unit_of_work
from domain.shared.errors import NotFound, Unauthorized
from domain.shared.metrics import Gauge
from workers import metrics as broker_metrics

log = logging.getLogger(__name__)

# A scrape must answer within Prometheus' scrape timeout (10 s by default).
_STATEMENT_TIMEOUT_MS = 5000


def gauge_sources() -> list[Gauge]:
    """Every gauge /metrics shows: the one registration point.

    A later module adds its context's `GAUGES` here (ingest lag, rollup watermark age,
    oldest undelivered webhook, ...).
    """
    return [
        *broker_metrics.GAUGES,
        *job_metrics.GAUGES,
        *order_metrics.GAUGES,
        *event_metrics.GAUGES,
        *analytics_metrics.GAUGES,
    ]


def _guard(_session: Any, _transaction: Any, connection: Any) -> None:
    """A scrape's transaction only reads, and gives up before Prometheus does."""
    connection.exec_driver_sql("SET TRANSACTION READ ONLY")
    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {_STATEMENT_TIMEOUT_MS}")


def _read(gauge: Gauge) -> GaugeMetricFamily:
    """One family from one gauge's samples, in a unit of work of its own.

    The session connects only when the gauge runs SQL: the broker's gauges still answer
    while the database is down.
    """
    family = GaugeMetricFamily(gauge.name, gauge.help, labels=list(gauge.labels))
    with unit_of_work() as session:
        event.listen(session, "after_begin", _guard)
        for labels, value in gauge.read(session):
            family.add_metric(list(labels), value)
    return family


class OperatorCollector(Collector):
    """Reads every registered gauge at scrape time.

    A gauge that fails (the broker down, a query timing out) is left out of the scrape and
    its source reports `funnels_metrics_source_up 0`; the others still answer.
    """

    def collect(self) -> Iterator[Metric]:
        """The gauges' families, then each source's up/down."""
        up: dict[str, float] = {}
        for gauge in gauge_sources():
            try:
                family = _read(gauge)
            except Exception:  # one source down must not take the scrape down
                log.warning("metrics: gauge %s failed", gauge.name, exc_info=True)
                up[gauge.source_name] = 0.0
                continue
            up.setdefault(gauge.source_name, 1.0)
            yield family
        family = GaugeMetricFamily(
            "funnels_metrics_source_up",
            "1 when every gauge of the source could be read in this scrape, else 0.",
            labels=["source"],
        )
        for source, value in sorted(up.items()):
            family.add_metric([source], value)
        yield family


registry = CollectorRegistry(auto_describe=False)
registry.register(OperatorCollector())

router = APIRouter()


def _check_token(request: Request, token: str | None, production: bool) -> None:
    """Refuse a scrape without the configured token; hide /metrics in production without one."""
    if token is None:
        if production:
            raise NotFound()
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise Unauthorized(
            "A valid metrics token is needed",
            code="not_authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, settings: SettingsDep) -> Response:
    """The gauges in the Prometheus text exposition format."""
    _check_token(request, settings.metrics_token, settings.environment == "production")
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
