"""The worker's ``/metrics``: its own figures (the database pool) and the queues (the files
waiting to be erased among them), the last runs and the newest backup, read from the database
when Prometheus scrapes (shared/infrastructure/operations.py), so they are the rows' figures,
never counters that drift.

Served by Hypercorn inside the worker's event loop on ``worker_metrics_bind`` (the stack:
``0.0.0.0:8000``, reached by Prometheus on the stack's network, published nowhere), behind the
same bearer token as the apps' ``/metrics`` (shared/infrastructure/metrics.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.infrastructure.metrics import METRICS_PATH, Exposition
from shared.infrastructure.operations import OperationsFigures, read_figures

log = logging.getLogger("rose_ash.worker")


class OperationsCollector(Collector):
    """Gauges from the last :meth:`refresh` (which ``/metrics`` awaits before answering)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory
        self.figures: OperationsFigures | None = None

    async def refresh(self) -> None:
        async with self.session_factory() as session:
            self.figures = await read_figures(session)

    def collect(self) -> Iterator[Metric]:
        figures = self.figures
        if figures is None:
            return
        deliveries = GaugeMetricFamily(
            "rose_ash_ap_deliveries",
            "ActivityPub deliveries by remote host and state: pending (not tried yet), "
            "retrying (failed, tried again later) and dead (given up).",
            labels=["host", "state"],
        )
        for host in figures.deliveries:
            deliveries.add_metric([host.host, "pending"], host.pending)
            deliveries.add_metric([host.host, "retrying"], host.retrying)
            deliveries.add_metric([host.host, "dead"], host.dead)
        yield deliveries
        newsletters = GaugeMetricFamily(
            "rose_ash_newsletter_deliveries",
            "Newsletter emails waiting to be sent (pending) and given up (failed).",
            labels=["state"],
        )
        newsletters.add_metric(["pending"], figures.newsletter_pending)
        newsletters.add_metric(["failed"], figures.newsletter_failed)
        yield newsletters
        ghost = figures.ghost_sync
        if ghost.at is not None:
            yield GaugeMetricFamily(
                "rose_ash_ghost_sync_last_run_timestamp_seconds",
                "When the worker's last periodic Ghost sync ran (Unix time).",
                value=ghost.at.timestamp(),
            )
            yield GaugeMetricFamily(
                "rose_ash_ghost_sync_last_run_failed",
                "1 when the last periodic Ghost sync failed, else 0.",
                value=1 if ghost.failed else 0,
            )
        scrape_at = GaugeMetricFamily(
            "rose_ash_scrape_last_run_timestamp_seconds",
            "When each scrape source's latest run started (Unix time).",
            labels=["source"],
        )
        scrape_failed = GaugeMetricFamily(
            "rose_ash_scrape_last_run_failed",
            "1 when a scrape source's latest run failed, else 0.",
            labels=["source"],
        )
        for run in figures.scrapes:
            if run.started_at is None:
                continue
            scrape_at.add_metric([str(run.source_id)], run.started_at.timestamp())
            scrape_failed.add_metric([str(run.source_id)], 1 if run.status == "failed" else 0)
        yield scrape_at
        yield scrape_failed
        yield GaugeMetricFamily(
            "rose_ash_scrape_runs_running",
            "Scrape runs in progress now.",
            value=figures.scrapes_running,
        )
        erasures = GaugeMetricFamily(
            "rose_ash_media_erasures",
            "Stored files waiting to be erased where they live: pending (all), retrying (the "
            "last attempt failed) and overdue (waiting for more than an hour).",
            labels=["state"],
        )
        erasures.add_metric(["pending"], figures.media_erasures.pending)
        erasures.add_metric(["retrying"], figures.media_erasures.retrying)
        erasures.add_metric(["overdue"], figures.media_erasures.overdue)
        yield erasures
        if figures.backup is not None:  # never a backup: no series (the alert sees it absent)
            yield GaugeMetricFamily(
                "rose_ash_backup_last_success_timestamp_seconds",
                "When the newest backup `rose-ash backup` completed finished (Unix time).",
                value=figures.backup.finished_at.timestamp(),
            )
            yield GaugeMetricFamily(
                "rose_ash_backup_last_success_bytes",
                "The size of the newest completed backup: its dump and media files.",
                value=figures.backup.total_bytes,
            )


def metrics_app(token: str | None, collector: OperationsCollector) -> Callable[..., Any]:
    """The ASGI application answering ``/metrics`` (and 404 everywhere else)."""
    exposition = Exposition(token)
    own = CollectorRegistry(auto_describe=True)
    own.register(collector)

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        if scope["path"] != METRICS_PATH:
            status, head, body = 404, {"Content-Type": "text/plain"}, b"not found\n"
        elif exposition.refusal(authorization) is None:
            try:
                await collector.refresh()
            except Exception:
                # Prometheus sees the gap (the series vanish); the worker carries on.
                log.exception("reading the queues for /metrics failed")
                collector.figures = None
            status, head, body = exposition.answer(authorization, REGISTRY, own)
        else:
            status, head, body = exposition.answer(authorization)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in head.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def serve_metrics(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
) -> None:
    """Serve ``/metrics`` on ``worker_metrics_bind`` until ``stop``."""
    config = Config()
    config.bind = [settings.worker_metrics_bind]
    config.graceful_timeout = 2.0
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    app = metrics_app(settings.secrets.metrics_token, OperationsCollector(session_factory))
    await serve(app, config, shutdown_trigger=stop.wait)


def serves_metrics(settings: Settings) -> bool:
    """Whether the worker serves /metrics: an address and a token are both configured."""
    return bool(settings.worker_metrics_bind and settings.secrets.metrics_token)
