"""The worker's /metrics (shared/tooling/worker_metrics.py): the queues and the last runs read
from the database when it is scraped, behind the token; and the figures the admin status page
shares with it (shared/infrastructure/operations.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.config import Settings
from shared.infrastructure.operations import (
    GHOST_SCHEDULE_KEY,
    LastBackup,
    OperationsFigures,
    read_figures,
)
from shared.models.market import ScrapeRun, ScrapeSource, Supplier
from shared.models.media import MediaErasure
from shared.tooling import worker
from shared.tooling.devservers import free_ports
from shared.tooling.worker_metrics import OperationsCollector, serves_metrics
from tests.infrastructure.test_metrics import SCRAPE, TOKEN, samples, value
from tests.support import GUARD_S, eventually
from tests.support.settings import make_settings

HOST = "metrics-h5.example"
RAN_AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
BACKED_UP_AT = datetime(2026, 12, 2, 2, 30, 5, tzinfo=UTC)
BACKUP = "rose-ash-20261202T022900Z"


@pytest.fixture
async def queued(engine: AsyncEngine) -> AsyncIterator[None]:
    """Committed rows (the worker reads with its own engine): one delivery waiting its first
    try, two waiting a retry, one dead, at one host (none due: the worker leaves them be), a
    failed periodic Ghost sync, and two recorded backups."""
    later = datetime.now(UTC) + timedelta(days=1)
    async with engine.begin() as conn:
        activity = await conn.scalar(
            text(
                "INSERT INTO ap_activities (uri, actor_app, activity_type, payload) "
                "VALUES (:uri, 'blog', 'Create', '{}') RETURNING id"
            ),
            {"uri": f"https://{HOST}/activities/1"},
        )
        for n, (status, attempts) in enumerate(
            (("pending", 0), ("pending", 2), ("pending", 5), ("dead", 16))
        ):
            await conn.execute(
                text(
                    "INSERT INTO ap_deliveries (activity_id, inbox_url, host, status, attempts,"
                    " next_attempt_at) VALUES (:a, :inbox, :host, :status, :attempts, :later)"
                ),
                {
                    "a": activity,
                    "inbox": f"https://{HOST}/users/{n}/inbox",
                    "host": HOST,
                    "status": status,
                    "attempts": attempts,
                    "later": later,
                },
            )
        await conn.execute(
            text(
                "INSERT INTO ghost_state (name, value) VALUES (:name, CAST(:value AS jsonb)) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
            ),
            {
                "name": GHOST_SCHEDULE_KEY,
                "value": json.dumps(
                    {"last_run_at": RAN_AT.isoformat(), "error": "ghost_unreachable"}
                ),
            },
        )
        backups = await conn.execute(
            text(
                "INSERT INTO backup_runs (finished_at, name, total_bytes, schema_revision)"
                " VALUES (:older, 'rose-ash-older', 10, 'x'), (:at, :name, 4096, 'x')"
                " RETURNING id"
            ),
            {"older": BACKED_UP_AT - timedelta(days=1), "at": BACKED_UP_AT, "name": BACKUP},
        )
        backup_ids = list(backups.scalars())
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ap_activities WHERE id = :a"), {"a": activity})
            await conn.execute(
                text("DELETE FROM ghost_state WHERE name = :n"), {"n": GHOST_SCHEDULE_KEY}
            )
            await conn.execute(
                text("DELETE FROM backup_runs WHERE id = ANY(:ids)"), {"ids": backup_ids}
            )


@pytest.mark.usefixtures("queued")
async def test_the_worker_serves_the_queues_from_the_database(
    settings: Settings, tmp_path: Path
) -> None:
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/metrics"
    worker_settings = make_settings(
        settings.secrets.database_url or "",
        settings.secrets.redis_url or "",
        ROSE_METRICS_TOKEN=TOKEN,
        ROSE_WORKER_METRICS_BIND=f"127.0.0.1:{port}",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        worker.run(worker_settings, heartbeat=tmp_path / "beat", interval_s=0.05, stop=stop)
    )
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:

            async def answers() -> bool:
                if task.done():
                    task.result()
                try:
                    return (await http.get(url, headers=SCRAPE)).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(answers, "the worker's /metrics answering")
            assert (await http.get(url)).status_code == 401
            assert (await http.get(url.replace("/metrics", "/"), headers=SCRAPE)).status_code == 404
            found = samples((await http.get(url, headers=SCRAPE)).text)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, GUARD_S) == 0
    deliveries = "rose_ash_ap_deliveries"
    assert value(found, deliveries, host=HOST, state="pending") == 1
    assert value(found, deliveries, host=HOST, state="retrying") == 2
    assert value(found, deliveries, host=HOST, state="dead") == 1
    assert {"pending", "failed"} <= {
        s.labels["state"] for s in found if s.name == "rose_ash_newsletter_deliveries"
    }
    assert value(found, "rose_ash_ghost_sync_last_run_failed") == 1
    assert value(found, "rose_ash_ghost_sync_last_run_timestamp_seconds") == RAN_AT.timestamp()
    assert [s for s in found if s.name == "rose_ash_scrape_runs_running"]
    assert value(found, "rose_ash_backup_last_success_timestamp_seconds") == (
        BACKED_UP_AT.timestamp()
    )
    assert value(found, "rose_ash_backup_last_success_bytes") == 4096
    assert value(found, "rose_ash_db_pool_connections_limit", app="worker") > 0


async def test_without_a_token_the_worker_serves_no_metrics(settings: Settings) -> None:
    assert not serves_metrics(settings)
    bound = make_settings(
        settings.secrets.database_url or "",
        settings.secrets.redis_url or "",
        ROSE_WORKER_METRICS_BIND="127.0.0.1:1",
    )
    assert not serves_metrics(bound)


@pytest.mark.usefixtures("queued")
async def test_the_figures_count_each_state(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        figures = await read_figures(session)
    (host,) = [h for h in figures.deliveries if h.host == HOST]
    assert (host.pending, host.retrying, host.dead) == (1, 2, 1)
    assert figures.ghost_sync.failed
    assert figures.ghost_sync.at == RAN_AT
    assert figures.backup == LastBackup(BACKED_UP_AT, BACKUP, 4096)


def test_without_a_recorded_backup_no_backup_series_is_exported() -> None:
    collector = OperationsCollector(session_factory=None)  # type: ignore[arg-type]
    collector.figures = OperationsFigures()
    names = {family.name for family in collector.collect()}
    assert "rose_ash_ap_deliveries" in names
    assert not {n for n in names if n.startswith("rose_ash_backup_")}
    collector.figures = OperationsFigures(backup=LastBackup(BACKED_UP_AT, BACKUP, 1))
    names = {family.name for family in collector.collect()}
    assert "rose_ash_backup_last_success_timestamp_seconds" in names


async def test_each_scrape_source_shows_its_latest_run(db: AsyncSession) -> None:
    supplier = Supplier(slug="figures-farm", name="Figures Farm")
    db.add(supplier)
    await db.flush()
    never, failing, working = (
        ScrapeSource(supplier_id=supplier.id, start_url=f"https://f{i}.example/") for i in range(3)
    )
    db.add_all([never, failing, working])
    await db.flush()
    day = datetime(2026, 11, 1, tzinfo=UTC)
    db.add_all(
        [
            # An older run that worked, then the latest one that failed.
            ScrapeRun(source_id=failing.id, status="finished", started_at=day),
            ScrapeRun(source_id=failing.id, status="failed", started_at=day + timedelta(days=1)),
            ScrapeRun(source_id=working.id, status="failed", started_at=day),
            ScrapeRun(source_id=working.id, status="running", started_at=day + timedelta(days=2)),
        ]
    )
    await db.flush()
    figures = await read_figures(db)
    latest = {s.source_id: s for s in figures.scrapes}
    assert latest[never.id].status is None
    assert latest[failing.id].status == "failed"
    assert latest[failing.id].started_at == day + timedelta(days=1)
    assert latest[working.id].status == "running"
    assert latest[never.id].supplier == "Figures Farm"
    assert figures.scrapes_running >= 1
    assert figures.scrapes_failed >= 1


async def test_files_waiting_to_be_erased_are_counted_and_the_overdue_shown(
    db: AsyncSession,
) -> None:
    """An erasure waiting over an hour (decision 0112) is what the MediaErasureOverdue alert
    and the status page watch; settled ones are history."""
    long_ago = func.now() - timedelta(hours=2)
    db.add_all(
        [
            MediaErasure(name="fresh.png", store="social"),
            MediaErasure(
                name="stuck.png",
                store="social",
                requested_at=long_ago,
                attempts=3,
                last_error="/var/lib/rose-ash/media-social/images is not a directory here",
            ),
            MediaErasure(
                name="done.png",
                store="blog",
                requested_at=long_ago,
                attempts=1,
                done_at=func.now(),
                outcome="erased",
            ),
        ]
    )
    await db.flush()
    erasures = (await read_figures(db)).media_erasures
    assert (erasures.pending, erasures.retrying, erasures.overdue) == (2, 1, 1)
    assert erasures.last_error is not None
    assert erasures.last_error.endswith("is not a directory here")
    assert erasures.oldest_at is not None

    collector = OperationsCollector(session_factory=None)  # type: ignore[arg-type]
    collector.figures = OperationsFigures(media_erasures=erasures)
    [family] = [f for f in collector.collect() if f.name == "rose_ash_media_erasures"]
    assert {s.labels["state"]: s.value for s in family.samples} == {
        "pending": 2,
        "retrying": 1,
        "overdue": 1,
    }
