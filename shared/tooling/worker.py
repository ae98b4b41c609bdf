"""`rose-ash worker`: the process that runs the OutboxProcessor
(shared/services/federation/outbox.py).

It checks its settings, then runs the processor until SIGTERM or SIGINT and stops cleanly, so a
rolling update or ``docker service scale`` never has to kill it (a delivery in flight when it is
killed anyway is retried when its lease ends). While it runs it keeps a heartbeat file fresh for
the container's health check (worker/Dockerfile: ``python -m shared.tooling.container
heartbeat``, which reads it through shared/tooling/heartbeat.py and never imports this module)
and for ``rose-ash up``; it removes the file when it stops, so a stopped worker never looks
healthy. ``once`` works until nothing is due and exits (tests, one-off catch-up).

Besides delivering, each cycle runs the stages the domains declare (``Domain.worker_stages``,
collected from shared.services.registry.DOMAINS): the blog's scheduled posts and periodic Ghost
sync, the market's due scrape runs (in the background, so a crawl never holds up deliveries),
the cart's payment follow-up, the newsletters' sending, the erasure of the blog's and the social
hub's released files from their stores. Each is described in its domain's
``stages.py``. With ``worker_metrics_bind`` and ``ROSE_METRICS_TOKEN`` set it also serves
``/metrics`` (shared/tooling/worker_metrics.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from shared.config import Settings, load_settings
from shared.db import create_engine, create_session_factory
from shared.infrastructure import metrics, pagecache
from shared.infrastructure.activitypub import keys
from shared.infrastructure.context import create_redis, use_services
from shared.infrastructure.logs import configure_logging
from shared.services.domain import WorkerContext, WorkerStage
from shared.services.federation.outbox import OutboxProcessor
from shared.services.registry import DOMAINS, build_services
from shared.tooling import worker_metrics
from shared.tooling.heartbeat import DEFAULT_HEARTBEAT, HEARTBEAT_ENV

log = logging.getLogger("rose_ash.worker")

HEARTBEAT_INTERVAL_S = 10.0

# Checked before anything starts: a worker missing one fails at once with one line, not later.
# Redis is for the processor's internal reactions (cache invalidation) as they join it.
REQUIRED_SECRETS = ("database_url", "redis_url", "ap_private_key")


def command(args: argparse.Namespace) -> int:
    """`rose-ash worker [--once]` (declared in shared/tooling/cli.py)."""
    settings = load_settings()
    configure_logging(settings.log_level, json_lines=settings.production)
    heartbeat = Path(os.environ.get(HEARTBEAT_ENV) or DEFAULT_HEARTBEAT)
    return asyncio.run(run(settings, heartbeat=heartbeat, once=args.once))


async def run(
    settings: Settings,
    *,
    heartbeat: Path = DEFAULT_HEARTBEAT,
    interval_s: float = HEARTBEAT_INTERVAL_S,
    stop: asyncio.Event | None = None,
    once: bool = False,
) -> int:
    """Run the OutboxProcessor until SIGTERM/SIGINT (or ``stop``); return the exit code."""
    for secret in REQUIRED_SECRETS:
        settings.require(secret)
    keys.private_key(settings)  # a malformed or weak key is a one-line ConfigError here
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings)
    metrics.watch_pool(
        engine, "worker", settings.database.pool_size + settings.database.max_overflow
    )
    factory = create_session_factory(engine)
    # What the worker commits (scheduled posts going live ...) outdates cached pages.
    page_redis = create_redis(settings.require("redis_url"), settings.redis.timeout_s)
    pagecache.install_listeners()
    pagecache.use_redis(page_redis)
    wired = build_services(settings)
    # Stages that reach another domain do it through services(), as apps do.
    use_services(wired)
    stages: list[WorkerStage] = []
    try:
        worker = WorkerContext(settings, engine, factory, wired, redis=page_redis)
        for domain in DOMAINS:
            if domain.worker_stages is not None:
                stages.extend(domain.worker_stages.load()(worker))
        async with OutboxProcessor(
            settings, factory, stages=[stage.run for stage in stages], redis=page_redis
        ) as processor:
            if once:
                print(f"worker: {await processor.run_once()}")
                for stage in stages:
                    if stage.drain is not None:
                        await stage.drain()
                return 0
            beating = asyncio.create_task(_keep_heartbeat(heartbeat, interval_s, stop))
            serving = (
                asyncio.create_task(worker_metrics.serve_metrics(settings, factory, stop))
                if worker_metrics.serves_metrics(settings)
                else None
            )
            try:
                await processor.run_forever(stop)
            finally:
                stop.set()
                await beating
                if serving is not None:
                    await serving
        log.info("worker stopped")
        return 0
    finally:
        for stage in stages:
            if stage.close is not None:
                await stage.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await pagecache.flush_pending()
        pagecache.use_redis(None)
        await page_redis.aclose()
        await engine.dispose()
        await asyncio.to_thread(heartbeat.unlink, missing_ok=True)


async def _keep_heartbeat(path: Path, interval_s: float, stop: asyncio.Event) -> None:
    """Touch ``path`` every ``interval_s`` until ``stop``.

    It shows the process and its event loop are alive. A processor cycle cannot hang for long
    without it: every database statement, lock wait and delivery has a timeout, and a failing
    cycle is logged and retried (OutboxProcessor.run_forever)."""
    while not stop.is_set():
        await asyncio.to_thread(path.touch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
