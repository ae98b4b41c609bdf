"""The worker's scrape stage: due sources (interval passed, or "run now") are run in the
background, one run per source however many workers look at once; `rose-ash scrape` runs a
supplier's sources from the command line with a progress bar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.config import Settings
from shared.models import Product, ScrapeRequest, ScrapeRun, ScrapeSource
from shared.services.market.importing import SqlCatalogImportService
from shared.services.market.scrape.schedule import ScrapeScheduler
from shared.tooling import worker
from tests.market.scrape_support import committed, jsonld_page, listing, make_source
from tests.standins.supplier_site import SupplierSite
from tests.support import eventually, run_cli
from tests.support.settings import make_settings


@pytest.fixture
async def scrape_settings(scratch_database_url: str, redis_url: str) -> Settings:
    return make_settings(
        scratch_database_url,
        redis_url,
        ROSE_SCRAPE__ALLOW_ADDRESSES="127.0.0.1/32",
        ROSE_SCRAPE__MIN_DELAY_S="0",
    )


@pytest.fixture
async def engine(scratch_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(scratch_database_url)
    # Sources left by earlier tests of this module are not due any more.
    async with committed(eng) as session:
        await session.execute(update(ScrapeSource).values(enabled=False))
        await session.execute(delete(ScrapeRequest))
    yield eng
    await eng.dispose()


@pytest.fixture
async def site() -> AsyncIterator[SupplierSite]:
    site = await SupplierSite().start()
    site.html("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    site.html("/", listing("/p/cider", "/p/perry"))
    site.html("/p/cider", jsonld_page("Dry cider", "3.75"))
    site.html("/p/perry", jsonld_page("Perry", "4.10"))
    yield site
    await site.close()


async def runs_of(engine: AsyncEngine, source_id: int) -> list[ScrapeRun]:
    async with committed(engine) as session:
        return list(
            await session.scalars(
                select(ScrapeRun).where(ScrapeRun.source_id == source_id).order_by(ScrapeRun.id)
            )
        )


async def test_due_sources(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    service = SqlCatalogImportService()
    source = await make_source(engine, "due-farm", f"{site.base}/")
    now = datetime.now(UTC)
    async with committed(engine) as session:
        assert source.id in await service.due_scrape_sources(session, now)  # never run
        await session.execute(
            update(ScrapeSource)
            .where(ScrapeSource.id == source.id)
            .values(last_run_at=now - timedelta(hours=23))
        )
        assert source.id not in await service.due_scrape_sources(session, now)
        await session.execute(
            update(ScrapeSource)
            .where(ScrapeSource.id == source.id)
            .values(last_run_at=now - timedelta(hours=25))
        )
        assert source.id in await service.due_scrape_sources(session, now)
        await service.set_scrape_source_enabled(session, source.id, False, None)
        assert source.id not in await service.due_scrape_sources(session, now)
        # "Run now" runs even a source whose schedule is off, once however often asked.
        await service.request_scrape_run(session, source.id, None)
        await service.request_scrape_run(session, source.id, None)
        assert source.id in await service.due_scrape_sources(session, now)


async def test_two_workers_run_a_due_source_once(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite, scratch_database_url: str
) -> None:
    # A slow page keeps the first run going while the other scheduler looks, as under load;
    # whether the second sees the source due at all depends on timing, so only what must
    # hold is asserted: one run, each page fetched once.
    site.stalls["/p/cider"] = 0.5
    source = await make_source(engine, "busy-farm", f"{site.base}/")
    other_engine = create_async_engine(scratch_database_url)
    try:
        first = ScrapeScheduler(scrape_settings, engine)
        second = ScrapeScheduler(scrape_settings, other_engine)
        started = await asyncio.gather(first.stage(), second.stage())
        assert sum(started) >= 1
        await asyncio.gather(first.drain(), second.drain())
    finally:
        await other_engine.dispose()
    runs = await runs_of(engine, source.id)
    assert [(r.status, r.created) for r in runs] == [("finished", 2)]
    assert {path: len(site.requested(path)) for path in ("/", "/p/cider", "/p/perry")} == {
        "/": 1,
        "/p/cider": 1,
        "/p/perry": 1,
    }
    # Not due any more: the next cycle starts nothing.
    assert await ScrapeScheduler(scrape_settings, engine).stage() == 0


async def test_stopping_a_worker_fails_its_run_cleanly(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    site.stalls["/p/perry"] = 5
    source = await make_source(engine, "stopped-farm", f"{site.base}/")
    scheduler = ScrapeScheduler(scrape_settings, engine)
    assert await scheduler.stage() == 1
    await eventually(lambda: site.requested("/p/perry"), "the stalled page requested")
    await scheduler.close()
    [run] = await runs_of(engine, source.id)
    assert run.status == "failed"
    assert "CancelledError" in run.errors[-1]["error"]
    async with committed(engine) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Product)
            .where(Product.supplier_id == source.supplier_id)
        )
    assert count == 0


async def test_the_worker_runs_what_staff_asked_for(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite, tmp_path: Path
) -> None:
    source = await make_source(engine, "asked-farm", f"{site.base}/")
    async with committed(engine) as session:
        await session.execute(
            update(ScrapeSource)
            .where(ScrapeSource.id == source.id)
            .values(enabled=False, last_run_at=datetime.now(UTC))
        )
        await SqlCatalogImportService().request_scrape_run(session, source.id, None)
    assert await worker.run(scrape_settings, heartbeat=tmp_path / "beat", once=True) == 0
    [run] = await runs_of(engine, source.id)
    assert (run.status, run.created) == ("finished", 2)
    async with committed(engine) as session:
        assert await session.get(ScrapeRequest, source.id) is None


async def test_the_scrape_command_imports_then_reports_unchanged(
    scrape_settings: Settings,
    engine: AsyncEngine,
    site: SupplierSite,
    scratch_database_url: str,
    redis_url: str,
) -> None:
    source = await make_source(engine, "cli-farm", f"{site.base}/")
    env = {
        "DATABASE_URL": scratch_database_url,
        "REDIS_URL": redis_url,
        "ROSE_SCRAPE__ALLOW_ADDRESSES": "127.0.0.1/32",
        "ROSE_SCRAPE__MIN_DELAY_S": "0",
    }
    code, out, err = await run_cli("scrape", "cli-farm", env=env)
    assert code == 0, err
    assert f"cli-farm #{source.id}" in err
    assert "pages" in err
    assert "3 pages fetched; 2 created, 0 updated, 0 unchanged, 0 unavailable; 0 errors" in out

    code, out, _ = await run_cli("scrape", "cli-farm", "--quiet", env=env)
    assert code == 0
    assert "0 created, 0 updated, 2 unchanged, 0 unavailable" in out

    code, _, err = await run_cli("scrape", "no-such-farm", env=env)
    assert code == 2
    assert "supplier_not_found" in err
    assert "Traceback" not in err
