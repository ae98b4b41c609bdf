"""`rose-ash ghost-sync` and `rose-ash blog publish-due`, run as a person (or the worker) would.

They run as real processes against a freshly migrated database of their own (they commit).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from shared.infrastructure import pagecache
from shared.tooling import migrate
from tests.standins.ghost import GhostStandIn
from tests.support import run_cli
from tests.support.settings import asyncpg_dsn, make_settings


@pytest.fixture
async def cli_database(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    base_url, redis_url = server_urls
    name = f"rose_ash_cli_{secrets.token_hex(4)}"
    dsn, kwargs = asyncpg_dsn(base_url)
    admin = await asyncpg.connect(dsn, **kwargs)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(migrate.upgrade, make_settings(url, redis_url), url)
        yield url
    finally:
        admin = await asyncpg.connect(dsn, **kwargs)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    dsn, kwargs = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_ghost_sync_imports_with_a_progress_bar_and_resumes(
    cli_database: str, redis_url: str, ghost: GhostStandIn
) -> None:
    tag = ghost.add_tag("News")
    for i in range(12):
        ghost.add_post(f"Imported {i}", tags=[tag])
    ghost.add_post("About", kind="pages")
    ghost.add_post(
        "Minutes", visibility="members", html="<p>Open</p><!--members-only--><p>Ours</p>"
    )
    env = {
        "DATABASE_URL": cli_database,
        "REDIS_URL": redis_url,
        "ROSE_GHOST__URL": ghost.url,
        "ROSE_GHOST__PAGE_SIZE": "5",
        "ROSE_GHOST_CONTENT_KEY": ghost.content_key,
    }
    code, out, err = await run_cli("ghost-sync", env=env)
    assert code == 0, err
    assert "14 created, 0 updated, 0 unchanged, 0 removed; 1 tags, 0 authors" in out
    # Only a Content API key: the members-only post came cut at its paywall, and says so.
    assert "1 members-only item(s) came without their whole body" in out
    assert "ROSE_GHOST_ADMIN_KEY" in out
    assert "Ghost posts: 100%" in err  # tqdm's bar, on stderr
    assert "13/13" in err
    rows = await _fetch(cli_database, "SELECT slug FROM blog_posts ORDER BY slug")
    assert len(rows) == 14

    # Ghost down: a one-line error, exit 1, and nothing lost.
    ghost.fail(503, times=50)
    code, out, err = await run_cli("ghost-sync", "--quiet", env=env)
    assert code == 1
    assert "ghost-sync stopped (ghost_unavailable)" in err
    assert "Traceback" not in err
    assert len(await _fetch(cli_database, "SELECT id FROM blog_posts")) == 14
    ghost.failures.clear()

    # A wrong key: a clear error naming the refusal.
    code, _, err = await run_cli("ghost-sync", env={**env, "ROSE_GHOST_CONTENT_KEY": "0" * 26})
    assert code == 1
    assert "ghost_auth" in err
    assert "UNKNOWN_CONTENT_API_KEY" in err

    ghost.remove(next(iter(ghost.items["posts"])))
    code, out, _ = await run_cli("ghost-sync", "--quiet", env=env)
    assert code == 0
    assert "1 removed" in out


async def test_ghost_sync_without_configuration_says_what_is_missing(
    cli_database: str, redis_url: str
) -> None:
    env = {"DATABASE_URL": cli_database, "REDIS_URL": redis_url}
    code, _, err = await run_cli("ghost-sync", env=env)
    assert code == 2
    assert err.strip() == (
        "rose-ash: error: ghost.url is not set (in the config file or ROSE_GHOST__URL)"
    )
    code, _, err = await run_cli("ghost-sync", env={**env, "ROSE_GHOST__URL": "http://127.0.0.1:9"})
    assert code == 2
    assert "ROSE_GHOST_CONTENT_KEY is not set" in err


async def test_publish_due_publishes_scheduled_posts_whose_time_has_come(
    cli_database: str, redis_url: str
) -> None:
    now = datetime.now(UTC)
    dsn, kwargs = asyncpg_dsn(cli_database)
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        for slug, when in (("due", now - timedelta(minutes=1)), ("later", now + timedelta(days=1))):
            await conn.execute(
                "INSERT INTO blog_posts (title, slug, status, published_at) "
                "VALUES ($1, $1, 'scheduled', $2)",
                slug,
                when,
            )
    finally:
        await conn.close()
    env = {"DATABASE_URL": cli_database, "REDIS_URL": redis_url}
    redis = aioredis.Redis.from_url(redis_url)
    version = pagecache.version_key("blog")

    async def blog_version() -> int:
        return int(await redis.get(version) or 0)

    try:
        before = await blog_version()
        code, out, err = await run_cli("blog", "publish-due", env=env)
        assert code == 0, err
        assert "published post 'due'" in out
        assert "1 scheduled post(s) published." in out
        rows = await _fetch(cli_database, "SELECT slug, status FROM blog_posts ORDER BY slug")
        assert [tuple(r) for r in rows] == [("due", "published"), ("later", "scheduled")]
        # The blog's cached pages are outdated as the command ends, not a TTL later.
        assert await blog_version() == before + 1
        code, out, _ = await run_cli("blog", "publish-due", env=env)
        assert "0 scheduled post(s) published." in out
        assert await blog_version() == before + 1, "nothing written, nothing outdated"
    finally:
        await redis.aclose()
