"""PostgreSQL there but taking no more connections: a page is answered 503 "busy" with a short
Retry-After in the site's own layout — never a 500 — whether the process's own pool stayed full
or the server refused one connection too many (SQLSTATE 53300) — and the next request after
the pressure goes is served."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from werkzeug.datastructures import Headers

from shared.infrastructure.factory import RoseQuart
from tests.support import BROWSER_ACCEPT
from tests.support.settings import asyncpg_dsn, make_settings

BROWSER = {"Accept": BROWSER_ACCEPT}


async def started(app: RoseQuart) -> object:
    ctx = app.test_app()
    await ctx.startup()
    return ctx


def assert_busy(status: int, headers: Headers, html: str) -> None:
    assert status == 503, html
    assert headers["Retry-After"] == "5", html
    assert 'data-error-code="database_busy"' in html
    assert "briefly unavailable" in html


async def test_a_full_pool_is_a_503_not_a_500(scratch_database_url: str, redis_url: str) -> None:
    settings = make_settings(
        scratch_database_url,
        redis_url,
        ROSE_DATABASE__POOL_SIZE="1",
        ROSE_DATABASE__MAX_OVERFLOW="0",
        ROSE_DATABASE__POOL_TIMEOUT_S="0.2",
    )
    app: RoseQuart = importlib.import_module("blog.app").create_app(settings)
    ctx = await started(app)
    try:
        client = app.test_client()
        assert (await client.get("/", headers=BROWSER)).status_code == 200
        engine = app.extensions["rose"].engine
        # The pool's one connection is taken for as long as the request waits for it.
        async with engine.connect():
            resp = await client.get("/", headers=BROWSER)
            assert_busy(resp.status_code, resp.headers, await resp.get_data(as_text=True))
        assert (await client.get("/", headers=BROWSER)).status_code == 200
    finally:
        await ctx.shutdown()  # type: ignore[attr-defined]


@pytest.fixture
async def one_connection_role(scratch_database_url: str) -> AsyncIterator[str]:
    """The scratch database's URL as a role PostgreSQL lets hold one connection at a time."""
    role = f"rose_ash_busy_{secrets.token_hex(4)}"
    dsn, kwargs = asyncpg_dsn(scratch_database_url)
    admin = await asyncpg.connect(dsn, **kwargs)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
        await admin.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        await admin.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        url = make_url(scratch_database_url).set(username=role, password=None)
        yield url.render_as_string(hide_password=False)
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await admin.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
        await admin.execute(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def test_a_server_refusing_one_connection_too_many_is_a_503(
    one_connection_role: str, redis_url: str
) -> None:
    app: RoseQuart = importlib.import_module("blog.app").create_app(
        make_settings(one_connection_role, redis_url)
    )
    ctx = await started(app)
    try:
        client = app.test_client()
        assert (await client.get("/", headers=BROWSER)).status_code == 200
        # The app's pooled connection is closed; another client takes the role's only one.
        await app.extensions["rose"].engine.dispose()
        dsn, kwargs = asyncpg_dsn(one_connection_role)
        other = await asyncpg.connect(dsn, **kwargs)
        try:
            resp = await client.get("/", headers=BROWSER)
            assert_busy(resp.status_code, resp.headers, await resp.get_data(as_text=True))
        finally:
            await other.close()
        assert (await client.get("/", headers=BROWSER)).status_code == 200
    finally:
        await ctx.shutdown()  # type: ignore[attr-defined]
