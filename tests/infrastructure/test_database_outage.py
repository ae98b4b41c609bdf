"""PostgreSQL down and back, for real: a platform on its own embedded PostgreSQL, stopped and
started again. Pages answer 503 with Retry-After in the site's own layout while it is down; the
outage is logged once when it starts and once when it ends, with no traceback; the worker backs
off; and after the restart no request fails on a connection pooled before it."""

from __future__ import annotations

import asyncio
import importlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.db import create_engine, create_session_factory
from shared.infrastructure.factory import RoseQuart
from shared.services.federation.outbox import OutboxProcessor
from shared.tooling import migrate
from shared.tooling.devservers import EmbeddedPostgres
from tests.support import BROWSER_ACCEPT
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow

BROWSER = {"Accept": BROWSER_ACCEPT}


@pytest.fixture
async def own_postgres() -> AsyncIterator[tuple[EmbeddedPostgres, str]]:
    # Its own folder, not pytest's tmp_path: the data must outlive a stop (and pytest's
    # folders are pruned by other runs on a shared machine).
    folder = Path(tempfile.mkdtemp(prefix="rose-ash-outage-"))
    server = EmbeddedPostgres(folder / "pg")
    try:
        url = await asyncio.to_thread(server.start)
        await asyncio.to_thread(migrate.upgrade, make_settings(url, "redis://unused"), url)
        yield server, url
    finally:
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(shutil.rmtree, folder, True)


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shared.db"]


async def test_pages_answer_503_while_postgresql_is_down_and_recover_when_it_is_back(
    own_postgres: tuple[EmbeddedPostgres, str],
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, url = own_postgres
    settings = make_settings(url, redis_url)
    app: RoseQuart = importlib.import_module("blog.app").create_app(settings)
    ctx = app.test_app()
    await ctx.startup()
    try:
        client = app.test_client()
        # The pool holds connections from before the outage.
        for _ in range(3):
            assert (await client.get("/", headers=BROWSER)).status_code == 200

        await asyncio.to_thread(server.stop)
        caplog.clear()
        for _ in range(5):
            resp = await client.get("/", headers=BROWSER)
            assert resp.status_code == 503
            assert resp.headers["Retry-After"] == "30"
            html = await resp.get_data(as_text=True)
            assert 'data-error-code="database_unavailable"' in html
            assert "briefly unavailable" in html
            # The site's own page: its layout and stylesheet, not a bare error.
            assert "/static/css/site.css" in html
            assert settings.site_name in html
        json = await client.get("/", headers={"Accept": "application/json"})
        assert json.status_code == 503
        assert (await json.get_json())["error"]["code"] == "database_unavailable"
        assert (await client.get("/readyz")).status_code == 503

        # The worker meets the same outage: it waits longer after each failed cycle.
        worker_settings = make_settings(
            url, redis_url, ROSE_ACTIVITYPUB__WORKER_POLL_INTERVAL_S="0.01"
        )
        engine = create_engine(worker_settings)
        stop = asyncio.Event()
        processor = OutboxProcessor(worker_settings, create_session_factory(engine))
        try:
            running = asyncio.create_task(processor.run_forever(stop))
            async with asyncio.timeout(60):
                # 0.02, 0.04, 0.08: three cycles. sleep(0) only yields to the processor.
                while processor.outage_wait_s < 0.08:  # noqa: ASYNC110
                    await asyncio.sleep(0)
            stop.set()
            await running
        finally:
            await processor.aclose()
            await engine.dispose()

        lines = outage_lines(caplog)
        assert len(lines) == 2, lines  # the app's engine and the worker's, once each
        assert all("PostgreSQL is unreachable" in line for line in lines)
        assert not [r for r in caplog.records if r.exc_info], "no traceback during an outage"
        errors = {r.name for r in caplog.records if r.levelno >= logging.ERROR}
        assert errors == {"shared.db"}

        restarted = await asyncio.to_thread(server.start)
        assert restarted == url
        caplog.clear()
        # Not one request fails on a connection pooled before the restart.
        for _ in range(5):
            assert (await client.get("/", headers=BROWSER)).status_code == 200
        assert outage_lines(caplog) == [
            next(line for line in outage_lines(caplog) if "reachable again" in line)
        ]

        # A restart no request saw: the pooled connections are stale, found out before use.
        await asyncio.to_thread(server.stop)
        assert await asyncio.to_thread(server.start) == url
        for _ in range(5):
            assert (await client.get("/", headers=BROWSER)).status_code == 200
    finally:
        await ctx.shutdown()  # type: ignore[attr-defined]
