"""The demo supplier's website (served by `rose-ash up --demo`) imports completely and a second
run reports it unchanged; and the whole journey with the launcher and the CLI, as a developer
would run it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from shared.config import APP_NAMES, Settings
from shared.models import Product, ScrapeSource, Supplier
from shared.services.market.demo import seed_scrape_source
from shared.services.market.scrape.demo_site import PRODUCTS, make_server
from shared.services.market.scrape.runner import run_source
from shared.tooling.devservers import free_ports
from tests.market.scrape_support import committed, make_source
from tests.support import Up, scratch_dir
from tests.support.settings import make_settings


@pytest.fixture
def demo_site() -> Iterator[str]:
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def engine(scratch_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(scratch_database_url)
    yield eng
    await eng.dispose()


async def test_the_demo_site_imports_then_is_unchanged(
    scratch_database_url: str, redis_url: str, engine: AsyncEngine, demo_site: str
) -> None:
    settings: Settings = make_settings(
        scratch_database_url,
        redis_url,
        ROSE_SCRAPE__ALLOW_ADDRESSES="127.0.0.1/32",
        ROSE_SCRAPE__MIN_DELAY_S="0",
        ROSE_SCRAPE__MAX_DELAY_S="0",  # its robots.txt asks for 1 s between requests
    )
    source = await make_source(engine, "orchard-demo", f"{demo_site}/")
    first = await run_source(settings, engine, source.id)
    assert first is not None
    assert first.errors == ()
    assert (first.created, first.updated, first.unchanged) == (len(PRODUCTS), 0, 0)
    async with committed(engine) as session:
        rows = list(
            await session.scalars(select(Product).where(Product.supplier_id == source.supplier_id))
        )
    by_title = {p.title: p for p in rows}
    assert by_title["Heather honey, 340 g"].price_minor == 750  # microdata
    assert by_title["Free-range eggs, half dozen"].price_minor == 260  # RDFa
    assert by_title["Damson jam, 340 g"].price_minor == 420  # OpenGraph only
    assert by_title["Sparkling perry, 50 cl"].available is False  # OutOfStock
    assert "Trade prices (staff only)" not in by_title  # robots.txt keeps us out of /staff/
    second = await run_source(settings, engine, source.id)
    assert second is not None
    assert (second.created, second.updated, second.unchanged) == (0, 0, len(PRODUCTS))


async def test_the_demo_seeder_is_idempotent(db: AsyncSession) -> None:
    await seed_scrape_source(db)
    await seed_scrape_source(db)
    supplier_id = await db.scalar(select(Supplier.id).where(Supplier.slug == "orchard-lane"))
    assert supplier_id is not None
    sources = list(
        await db.scalars(select(ScrapeSource).where(ScrapeSource.supplier_id == supplier_id))
    )
    assert len(sources) == 1
    assert sources[0].start_url.startswith("http://127.0.0.1:")
    assert sources[0].enabled is False  # the import is run by hand in the demo


@pytest.fixture
def devdata() -> Iterator[Path]:
    with scratch_dir("rose-ash-test-up-") as scratch:
        yield scratch / "devdata"


@pytest.mark.slow
def test_done_when_rose_ash_up_demo_then_scrape_imports_and_a_second_run_is_unchanged(
    devdata: Path,
) -> None:
    *app_ports, free_site_port = free_ports(len(APP_NAMES) + 1)
    ports = dict(zip(APP_NAMES, app_ports, strict=True))
    site_port = str(free_site_port)
    up = Up(devdata, ports, "--demo", extra_env={"ROSE_SCRAPE__DEMO_SITE_PORT": site_port})
    try:
        up.wait_ready()
        assert any(f"http://127.0.0.1:{site_port}" in line for line in up.lines)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}
        env.update(
            DATABASE_URL=up.database_url(),
            ROSE_SCRAPE__DEMO_SITE_PORT=site_port,
            ROSE_SCRAPE__MIN_DELAY_S="0",
            ROSE_SCRAPE__MAX_DELAY_S="0.1",
        )
        command = [sys.executable, "-m", "shared.tooling.cli", "scrape", "orchard-lane"]
        first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert f"{len(PRODUCTS)} created, 0 updated, 0 unchanged" in first.stdout
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert f"0 created, 0 updated, {len(PRODUCTS)} unchanged" in second.stdout

        async def imported() -> int:
            eng = create_async_engine(up.database_url())
            try:
                async with committed(eng) as session:
                    return int(await session.scalar(select(func.count()).select_from(Product)) or 0)
            finally:
                await eng.dispose()

        assert asyncio.run(imported()) >= len(PRODUCTS)
    finally:
        code = up.stop(signal.SIGTERM)
    assert code == 0, "\n".join(up.lines[-30:])
