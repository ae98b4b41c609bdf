"""The worker's periodic Ghost sync: once per interval however many workers run side by side
(each on its own connections, really concurrent), a Ghost outage logged and retried next
interval from the cursor, never crashing the worker; and its setting's validation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import ConfigError, Settings
from shared.db import create_engine, create_session_factory
from shared.models import BlogPost, GhostState, NavItem
from shared.services.blog.ghost_sync import SCHEDULE_KEY, load_cursor, periodic_configured
from shared.services.blog.stages import ghost_stages
from shared.services.federation.outbox import OutboxProcessor
from shared.tooling import worker
from tests.standins.ghost import GhostStandIn
from tests.support import GUARD_S, eventually
from tests.support.settings import make_settings


@pytest.fixture
def worker_settings(scratch_database_url: str, redis_url: str, ghost: GhostStandIn) -> Settings:
    return make_settings(
        scratch_database_url,
        redis_url,
        ROSE_GHOST__URL=ghost.url,
        ROSE_GHOST__TIMEOUT_S="2",
        ROSE_GHOST__PAGE_SIZE="10",
        ROSE_GHOST__SYNC_INTERVAL_S="60",
        ROSE_GHOST_CONTENT_KEY=ghost.content_key,
    )


@pytest.fixture
async def engines(worker_settings: Settings) -> AsyncIterator[list[AsyncEngine]]:
    """Two workers' engines (each its own pool), on a database where work really commits."""
    pair = [create_engine(worker_settings), create_engine(worker_settings)]
    async with pair[0].begin() as conn:
        await conn.execute(delete(BlogPost))
        await conn.execute(delete(GhostState))
        await conn.execute(delete(NavItem).where(NavItem.from_ghost.is_(True)))
    try:
        yield pair
    finally:
        for engine in pair:
            await engine.dispose()


def _processor(settings: Settings, engine: AsyncEngine) -> OutboxProcessor:
    factory = create_session_factory(engine)
    return OutboxProcessor(settings, factory, stages=ghost_stages(settings, factory))


async def _posts(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as db:
        return int(await db.scalar(select(func.count()).select_from(BlogPost)) or 0)


async def _schedule(engine: AsyncEngine) -> dict[str, object]:
    async with AsyncSession(engine) as db:
        value = await db.scalar(select(GhostState.value).where(GhostState.name == SCHEDULE_KEY))
        return dict(value or {})


async def _rewind(engine: AsyncEngine, seconds: int = 61) -> None:
    """Make the last run an interval (and a second) old."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE ghost_state SET value = jsonb_set(value, '{last_run_at}', "
                "to_jsonb((now() - make_interval(secs => :s))::text)) WHERE name = :n"
            ),
            {"s": seconds, "n": SCHEDULE_KEY},
        )


def _settings_reads(ghost: GhostStandIn) -> int:
    return sum(1 for path, _ in ghost.requests if path.endswith("/settings/"))


async def test_two_workers_side_by_side_sync_once_per_interval(
    ghost: GhostStandIn, worker_settings: Settings, engines: list[AsyncEngine]
) -> None:
    for i in range(12):
        ghost.add_post(f"Post {i}")
    ghost.delay_s = 0.05  # each answer takes a while: the two workers' cycles overlap
    first, second = (_processor(worker_settings, e) for e in engines)
    async with first, second:
        stats = await asyncio.gather(first.run_once(), second.run_once())
        assert all(s.delivered == 0 for s in stats)
        assert _settings_reads(ghost) == 1  # one sync, not two
        assert await _posts(engines[0]) == 12
        ran_at = (await _schedule(engines[0]))["last_run_at"]
        assert isinstance(ran_at, str)

        # Within the interval: nobody syncs again, however often the workers cycle.
        ghost.requests.clear()
        for _ in range(3):
            await asyncio.gather(first.run_once(), second.run_once())
        assert ghost.requests == []

        # An interval later: exactly one of them does, from the cursor.
        ghost.add_post("Post 12")
        await _rewind(engines[0])
        await asyncio.gather(first.run_once(), second.run_once())
        assert _settings_reads(ghost) == 1
        assert await _posts(engines[0]) == 13
        filters = [a.get("filter") for p, a in ghost.requests if p.endswith("/posts/")]
        assert filters[0] is not None
        assert filters[0].startswith("updated_at:>=")
        schedule = await _schedule(engines[0])
        assert schedule.get("report")
        assert "error" not in schedule


async def test_a_ghost_outage_is_logged_and_retried_next_interval_from_the_cursor(
    ghost: GhostStandIn,
    worker_settings: Settings,
    engines: list[AsyncEngine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    posts = [ghost.add_post(f"Post {i}") for i in range(25)]
    ghost.fail(503, path="/posts/", page=2, times=100)
    processor = _processor(worker_settings, engines[0])
    async with processor:
        with caplog.at_level(logging.WARNING, logger="shared.services.blog.ghost_sync"):
            await processor.run_once()  # no exception: the worker carries on
        assert any(
            "ghost sync failed (ghost_unavailable)" in r.getMessage() for r in caplog.records
        )
        assert (await _schedule(engines[0]))["error"] == "ghost_unavailable"
        assert await _posts(engines[0]) == 10  # page 1 is kept with its cursor
        async with AsyncSession(engines[0]) as db:
            cursor = await load_cursor(db, "posts")
        assert cursor == datetime.fromisoformat(posts[9]["updated_at"])

        # Still down, and not yet an interval later: Ghost is not hammered every cycle.
        ghost.requests.clear()
        await processor.run_once()
        assert ghost.requests == []

        # Ghost is back an interval later: the run resumes from the cursor.
        ghost.failures.clear()
        await _rewind(engines[0])
        await processor.run_once()
        assert await _posts(engines[0]) == 25
        first = next(a for p, a in ghost.requests if p.endswith("/posts/"))
        since = cursor - timedelta(seconds=5)
        assert first["filter"] == f"updated_at:>='{since.strftime('%Y-%m-%d %H:%M:%S')}'"
        assert "error" not in await _schedule(engines[0])


async def test_the_running_worker_survives_ghost_being_unreachable(
    ghost: GhostStandIn,
    worker_settings: Settings,
    engines: list[AsyncEngine],
    tmp_path: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`rose-ash worker` itself: Ghost answering 500 to everything leaves it running."""
    ghost.add_post("Never mind")
    ghost.fail(500, times=1000)
    stop = asyncio.Event()
    beat = tmp_path / "beat"  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger="shared.services.blog.ghost_sync"):
        task = asyncio.create_task(
            worker.run(worker_settings, heartbeat=beat, interval_s=0.05, stop=stop)
        )

        async def failed() -> bool:
            return "error" in await _schedule(engines[0])

        await eventually(failed, "the sync's failure recorded")
        assert not task.done()
        stop.set()
        assert await asyncio.wait_for(task, GUARD_S) == 0
    assert (await _schedule(engines[0]))["error"] == "ghost_unavailable"
    assert await _posts(engines[0]) == 0


@pytest.mark.parametrize("value", ["-1", "10", "29", str(7 * 86_400 + 1), "soon"])
def test_the_interval_setting_is_validated(database_url: str, redis_url: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_settings(database_url, redis_url, ROSE_GHOST__SYNC_INTERVAL_S=value)
    assert (
        str(err.value).lower().startswith(("ghost.sync_interval_s", "rose_ghost__sync_interval_s"))
    )


def test_the_stage_runs_only_when_ghost_is_configured_and_the_interval_is_on(
    database_url: str, redis_url: str, ghost: GhostStandIn
) -> None:
    base = {"ROSE_GHOST__URL": ghost.url, "ROSE_GHOST_CONTENT_KEY": ghost.content_key}
    on = make_settings(database_url, redis_url, **base)
    assert on.ghost.sync_interval_s == 900
    assert periodic_configured(on)
    off = make_settings(database_url, redis_url, **base, ROSE_GHOST__SYNC_INTERVAL_S="0")
    assert not periodic_configured(off)
    assert not periodic_configured(make_settings(database_url, redis_url))
    keyless = make_settings(database_url, redis_url, ROSE_GHOST__URL=ghost.url)
    assert not periodic_configured(keyless)
    factory: async_sessionmaker[AsyncSession] = async_sessionmaker()
    assert ghost_stages(off, factory) == []
    assert len(ghost_stages(on, factory)) == 1
