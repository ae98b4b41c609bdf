"""`rose-ash worker`: the process that runs the OutboxProcessor
(shared/services/federation/outbox.py).

It checks its settings, then runs the processor until SIGTERM or SIGINT and stops cleanly, so a
rolling update or ``docker service scale`` never has to kill it (a delivery in flight when it is
killed anyway is retried when its lease ends). While it runs it keeps a heartbeat file fresh for
the container's health check (worker/Dockerfile: ``python -m shared.tooling.container
heartbeat``, which reads it through shared/tooling/heartbeat.py and never imports this module)
and for ``rose-ash up``; it removes the file when it stops, so a stopped worker
never looks healthy. ``once`` works until nothing is due and exits (tests, one-off catch-up).

Besides delivering, each cycle publishes the blog's scheduled posts whose time has come
(:func:`scheduled_posts`), so their ``Create`` is in the outbox and on its way in the same
cycle; ``rose-ash blog publish-due`` does the same by hand or from cron, and both can run at once.
It also starts the market's scrape runs that are due (shared/services/market/scrape/schedule.py),
in the background so a crawl never holds up deliveries.
When a Ghost site is configured it also runs the Ghost sync once every ``ghost.sync_interval_s``
(:func:`ghost_stages`): however many workers run, one of them syncs per interval.
Each cycle also sends the newsletter messages that are due (shared/services/newsletters/sender.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from shared.config import Settings
from shared.errors import DomainError
from shared.tooling.heartbeat import DEFAULT_HEARTBEAT

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.contracts import BlogService, CartService

log = logging.getLogger("rose_ash.worker")

HEARTBEAT_INTERVAL_S = 10.0

# Checked before anything starts: a worker missing one fails at once with one line, not later.
# Redis is for the processor's internal reactions (cache invalidation) as they join it.
REQUIRED_SECRETS = ("database_url", "redis_url", "ap_private_key")


async def run(
    settings: Settings,
    *,
    heartbeat: Path = DEFAULT_HEARTBEAT,
    interval_s: float = HEARTBEAT_INTERVAL_S,
    stop: asyncio.Event | None = None,
    once: bool = False,
) -> int:
    """Run the OutboxProcessor until SIGTERM/SIGINT (or ``stop``); return the exit code."""
    # Imported here: the container's health check imports this module every 30 s and needs
    # none of the processor's dependencies.
    from shared.db import create_engine, create_session_factory
    from shared.infrastructure import pagecache
    from shared.infrastructure.activitypub import keys
    from shared.infrastructure.context import create_redis, use_services
    from shared.services.federation.outbox import OutboxProcessor
    from shared.services.market.scrape.schedule import ScrapeScheduler
    from shared.services.newsletters.sender import NewsletterSender
    from shared.services.registry import build_services

    for secret in REQUIRED_SECRETS:
        settings.require(secret)
    keys.private_key(settings)  # a malformed or weak key is a one-line ConfigError here
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    # What the worker commits (scheduled posts going live ...) outdates cached pages.
    page_redis = create_redis(settings.require("redis_url"))
    pagecache.install_listeners()
    pagecache.use_redis(page_redis)
    # The market's supplier catalogues: due scrape runs start in the background.
    scraper = ScrapeScheduler(settings, engine)
    wired = build_services(settings)
    # Stages that reach another domain do it through services(), as apps do.
    use_services(wired)
    stages: list[Callable[[], Awaitable[int]]] = [
        scheduled_posts(factory, wired.blog),
        cart_payments(factory, wired.cart, settings),
        scraper.stage,
    ]
    stages.append(NewsletterSender(settings, factory, wired.newsletters))
    stages.extend(ghost_stages(settings, factory))
    try:
        async with OutboxProcessor(settings, factory, stages=stages) as processor:
            if once:
                print(f"worker: {await processor.run_once()}")
                await scraper.drain()
                return 0
            beating = asyncio.create_task(_keep_heartbeat(heartbeat, interval_s, stop))
            try:
                await processor.run_forever(stop)
            finally:
                stop.set()
                await beating
        log.info("worker stopped")
        return 0
    finally:
        await scraper.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await pagecache.flush_pending()
        pagecache.use_redis(None)
        await page_redis.aclose()
        await engine.dispose()
        await asyncio.to_thread(heartbeat.unlink, missing_ok=True)


def scheduled_posts(
    session_factory: async_sessionmaker[AsyncSession], blog: BlogService
) -> Callable[[], Awaitable[int]]:
    """A processor stage: publish the scheduled posts that are due, in one transaction;
    returns how many (rows are claimed with SKIP LOCKED, so workers side by side share them)."""

    async def stage() -> int:
        async with session_factory() as session, session.begin():
            return len(await blog.publish_due_scheduled(session))

    return stage


def ghost_stages(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> list[Callable[[], Awaitable[int]]]:
    """The periodic Ghost sync, when a Ghost is configured (see ghost_sync.periodic_sync)."""
    from shared.services.blog import ghost_sync

    if not ghost_sync.periodic_configured(settings):
        if settings.ghost.url and settings.ghost.sync_interval_s:
            log.warning("ghost.url is set but ROSE_GHOST_CONTENT_KEY is not: no periodic sync")
        return []
    return [ghost_sync.periodic_sync(settings, session_factory)]


def cart_payments(
    session_factory: async_sessionmaker[AsyncSession], cart: CartService, settings: Settings
) -> Callable[[], Awaitable[int]]:
    """A processor stage: re-read pending SumUp checkouts (a lost webhook never leaves a paid
    order unpaid; an order whose checkout could not be created gets one), then expire unpaid
    orders whose reservation ran out, giving their stock back. Each order in its own
    transaction; an order SumUp cannot be asked about now is left for the next cycle (it is
    never expired without a last look at its checkout)."""
    from shared.db import commit
    from shared.services.cart.sumup import SumUpClient, SumUpError

    sumup = SumUpClient.from_settings(settings)

    async def stage() -> int:
        from datetime import UTC, datetime

        done = 0
        now = datetime.now(UTC)
        async with session_factory() as session:
            due = await cart.due_for_poll(session, now, settings.cart.poll_interval_s)
            expiring = await cart.due_for_expiry(session, now)
        if not sumup.configured:
            # No payments can have been taken: only reservations to give back.
            for order_id in expiring:
                async with session_factory() as session:
                    done += await cart.expire_one(session, order_id, now)
                    await commit(session)
            return done
        for order_id in sorted(set(due) | set(expiring)):
            async with session_factory() as session:
                try:
                    order = await cart.order(session, order_id)
                    if order is None or not order.awaiting_payment:
                        continue
                    if order.payment is None or not order.payment.checkout_id:
                        await cart.ensure_checkout(session, order_id)
                        await commit(session)
                    outcome = await cart.sync_payment(session, order_id)
                    await commit(session)
                    done += outcome.result in ("paid", "flagged")
                except (SumUpError, DomainError) as err:
                    await session.rollback()
                    log.warning("order %s: SumUp could not be asked now: %s", order_id, err)
                    continue
                if order_id in expiring:
                    if await cart.expire_one(session, order_id, now):
                        done += 1
                    await commit(session)
        return done

    return stage


async def _keep_heartbeat(path: Path, interval_s: float, stop: asyncio.Event) -> None:
    """Touch ``path`` every ``interval_s`` until ``stop``.

    It shows the process and its event loop are alive. A processor cycle cannot hang for long
    without it: every database statement, lock wait and delivery has a timeout, and a failing
    cycle is logged and retried (OutboxProcessor.run_forever)."""
    while not stop.is_set():
        await asyncio.to_thread(path.touch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
