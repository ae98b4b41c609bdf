"""One run of one scrape source, at most one at a time per source across every process.

The run lock is a PostgreSQL session-level advisory lock held on a connection of its own (in
autocommit: no transaction stays open during the crawl). A process that dies loses its
connection and so its lock; the next run of that source marks the run it left 'running' as
failed. The run itself is three short transactions: start (the run row, visible at once),
then after the crawl either finish (every product, the price history, the counts, all at once)
or fail (the run marked failed, nothing else written).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import ScrapeRunDTO
from shared.infrastructure.locking import advisory_key
from shared.services.market.importing import SqlCatalogImportService
from shared.services.market.scrape.crawler import Progress, crawl

log = logging.getLogger(__name__)

LOCK_KIND = "scrape_source"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Fetched:
    pages: int = 0


async def run_source(
    settings: Settings,
    engine: AsyncEngine,
    source_id: int,
    *,
    progress: Progress | None = None,
    scheduled: bool = False,
) -> ScrapeRunDTO | None:
    """Crawl the source and store what it holds; None when another process is running it
    (or, for a ``scheduled`` run, when it is no longer due: another worker just ran it)."""
    service = SqlCatalogImportService()
    factory = async_sessionmaker(engine, expire_on_commit=False)
    key = advisory_key((LOCK_KIND, source_id))
    lock = await engine.connect()
    try:
        lock = await lock.execution_options(isolation_level="AUTOCOMMIT")
        if not await lock.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
            return None
        try:
            if scheduled:
                async with factory() as session:
                    if source_id not in await service.due_scrape_sources(session, _now()):
                        return None
            async with factory() as session, session.begin():
                start = await service.start_scrape_run(session, source_id, _now())
            seen = _Fetched()

            def counting(fetched: int, waiting: int) -> None:
                seen.pages = fetched
                if progress is not None:
                    progress(fetched, waiting)

            try:
                result = await crawl(settings, start.source, start.known, progress=counting)
                async with factory() as session, session.begin():
                    return await service.finish_scrape_run(session, start.run.id, result, _now())
            except BaseException as err:
                # Cancelled, interrupted or broken: the run is failed and nothing else is kept.
                reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                log.warning("scrape run %s (source %s) failed: %s", start.run.id, source_id, reason)
                await asyncio.shield(_fail(factory, start.run.id, reason, seen.pages, settings))
                raise
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    except BaseException:
        # A connection whose unlock may not have happened must not go back to the pool.
        await lock.invalidate()
        raise
    finally:
        await lock.close()


async def _fail(
    factory: async_sessionmaker[AsyncSession],
    run_id: int,
    reason: str,
    pages: int,
    settings: Settings,
) -> None:
    service = SqlCatalogImportService()
    try:
        async with factory() as session, session.begin():
            await service.fail_scrape_run(session, run_id, reason, pages, _now())
    except Exception:
        log.exception("could not mark scrape run %s failed; the next run will", run_id)
