"""The worker's scrape stage: start the runs of sources that are due (their interval has
passed, or staff pressed "run now"), in the background, a few at a time per worker.

Each cycle of the OutboxProcessor calls :meth:`ScrapeScheduler.stage`, which only looks up
due sources and starts tasks: a crawl takes minutes (robots.txt's Crawl-delay, the page limit)
and must not hold up deliveries. One run per source across every worker is the runner's
advisory lock; a worker that gets the lock re-checks that the source is still due, so a run
that just finished elsewhere is not repeated. Stopping the worker cancels its runs, which are
then marked failed (nothing half-written: they store everything in one transaction at the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from shared.config import Settings
from shared.services.market.importing import SqlCatalogImportService
from shared.services.market.scrape.runner import run_source

log = logging.getLogger(__name__)


class ScrapeScheduler:
    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.factory = async_sessionmaker(engine, expire_on_commit=False)
        self.service = SqlCatalogImportService()
        self.tasks: dict[int, asyncio.Task[None]] = {}

    async def stage(self) -> int:
        """Start runs of due sources (up to ``scrape.worker_concurrency`` at once); returns
        how many were started."""
        self._reap()
        free = self.settings.scrape.worker_concurrency - len(self.tasks)
        if free <= 0:
            return 0
        async with self.factory() as session:
            due = await self.service.due_scrape_sources(session, datetime.now(UTC))
        started = 0
        for source_id in due:
            if started >= free:
                break
            if source_id in self.tasks:
                continue
            self.tasks[source_id] = asyncio.create_task(
                self._run(source_id), name=f"scrape-source-{source_id}"
            )
            started += 1
        return started

    async def _run(self, source_id: int) -> None:
        try:
            run = await run_source(self.settings, self.engine, source_id, scheduled=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scrape of source %s failed", source_id)
            return
        if run is not None:
            log.info(
                "scrape source %s: run %s %s (%s created, %s updated, %s unchanged, "
                "%s unavailable, %s errors)",
                source_id,
                run.id,
                run.status,
                run.created,
                run.updated,
                run.unchanged,
                run.unavailable,
                len(run.errors),
            )

    def _reap(self) -> None:
        for source_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[source_id]

    async def drain(self) -> None:
        """Wait for the runs in progress (``rose-ash worker --once``, tests)."""
        while self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            self._reap()

    async def close(self) -> None:
        """Cancel the runs in progress (each is marked failed) and wait for them."""
        for task in self.tasks.values():
            task.cancel()
        for task in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
