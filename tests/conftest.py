"""Test fixtures: real PostgreSQL and Redis, one fresh database per run, a rolled-back
transaction per test.

``TEST_DATABASE_URL`` (any database on the server; a fresh one is created beside it) and
``TEST_REDIS_URL`` (a database this run holds alone until it ends: its tests flush it) are
used when set; otherwise an embedded PostgreSQL and an embedded Valkey are started for the
run. The helpers the fixtures and tests share are in tests/support/ (settings:
``make_settings`` and the test secrets) and each domain's ``factories``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.config import Settings
from shared.contracts.services import Services
from shared.db import async_url
from shared.infrastructure.context import use_services
from shared.infrastructure.factory import RoseQuart
from shared.services.registry import build_services
from shared.tooling import migrate
from shared.tooling.devservers import EmbeddedPostgres, EmbeddedValkey
from tests.support import Browser, SmtpSink, scratch_dir, smtp_sink_server
from tests.support.live import Platform
from tests.support.objectstore import S3Server, s3_server_running
from tests.support.redisclaim import RedisClaim, RedisInUse
from tests.support.settings import AppMaker, asyncpg_dsn, make_settings

_redis_claim: RedisClaim | None = None


def pytest_configure(config: pytest.Config) -> None:
    """A run given TEST_REDIS_URL holds that database until it ends (its tests flush it);
    a second run pointed at the same one stops here with one line (tests/support/redisclaim.py)."""
    global _redis_claim
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        claim = RedisClaim(url)
        try:
            claim.acquire()
        except RedisInUse as err:
            raise pytest.UsageError(str(err)) from None
        _redis_claim = claim


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis_claim is not None:
        _redis_claim.release()


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(PostgreSQL URL of an existing database, Redis URL) for the whole run."""
    started: list[EmbeddedPostgres | EmbeddedValkey] = []
    pg_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    with contextlib.ExitStack() as stack:
        if not pg_url:
            data = stack.enter_context(scratch_dir("rose-ash-test-pg-")) / "data"
            pg = EmbeddedPostgres(data, delete_on_stop=True)
            pg_url = pg.start()
            started.append(pg)
        if not redis_url:
            vk = EmbeddedValkey(tmp_path_factory.mktemp("valkey"), persist=False)
            redis_url = vk.start()
            started.append(vk)
        try:
            yield pg_url, redis_url
        finally:
            for server in reversed(started):
                server.stop()


@pytest.fixture(scope="session")
async def database_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A freshly created database for this run, migrated to head, dropped at the end."""
    base_url, _ = server_urls
    name = f"rose_ash_test_{secrets.token_hex(4)}"
    dsn, kwargs = asyncpg_dsn(base_url)
    admin = await asyncpg.connect(dsn, **kwargs)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = async_url(make_url(base_url).set(database=name).render_as_string(hide_password=False))
    await admin.close()
    try:
        await asyncio.to_thread(migrate.upgrade, make_settings(url, "redis://unused"), url)
        yield url
    finally:
        # A fresh connection for the drop: one held idle for the whole run has been seen
        # to be closed under it by the time the run ends.
        admin = await asyncpg.connect(dsn, **kwargs)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="module")
async def scratch_database_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A migrated database of the module's own, for tests whose work must really commit
    (several workers on separate connections, servers in other processes)."""
    base_url, _ = server_urls
    name = f"rose_ash_scratch_{secrets.token_hex(4)}"
    dsn, kwargs = asyncpg_dsn(base_url)
    admin = await asyncpg.connect(dsn, **kwargs)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = async_url(make_url(base_url).set(database=name).render_as_string(hide_password=False))
    try:
        await asyncio.to_thread(migrate.upgrade, make_settings(url, "redis://unused"), url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible server (moto's) for the media's object store."""
    with s3_server_running() as server:
        yield server


@pytest.fixture
async def empty_database(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A database of this test's own with nothing in it, dropped at the end."""
    base_url, _ = server_urls
    name = f"rose_ash_empty_{secrets.token_hex(4)}"
    dsn, kwargs = asyncpg_dsn(base_url)
    admin = await asyncpg.connect(dsn, **kwargs)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
def redis_url(server_urls: tuple[str, str]) -> str:
    return server_urls[1]


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url)


@pytest.fixture(scope="session", autouse=True)
def process_services() -> Iterator[Services]:
    """The test process's domain services, installed as the worker and the CLI install theirs
    (services take each caller's session and never connect by themselves: the URLs are unused).
    Apps built in tests install their own from their settings."""
    wired = build_services(
        make_settings("postgresql://127.0.0.1:1/unused", "redis://127.0.0.1:1/0")
    )
    previous = use_services(wired)
    yield wired
    use_services(previous)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
def session_factory(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # Sessions commit to savepoints of the test's transaction, so nothing outlives the test.
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def db(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def make_app(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
) -> AsyncIterator[AppMaker]:
    """Build an app by name, started, with its requests inside the test's transaction."""
    started: list[tuple[RoseQuart, object]] = []

    async def build(name: str, *, app_settings: Settings | None = None) -> RoseQuart:
        module = importlib.import_module(f"{name}.app")
        app: RoseQuart = module.create_app(app_settings or settings)
        app.extensions["rose"].session_factory = session_factory
        ctx = app.test_app()
        await ctx.startup()
        started.append((app, ctx))
        return app

    yield build
    for _app, ctx in reversed(started):
        await ctx.shutdown()  # type: ignore[attr-defined]


@pytest.fixture
async def client(make_app: AppMaker) -> TestClientProtocol:
    """A test client for the blog app (the front door)."""
    app = await make_app("blog")
    return app.test_client()


# --- single sign-on: a mail sink and apps served over real HTTP ------------------------------


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    """A real SMTP server on a loopback port that keeps what it receives."""
    async with smtp_sink_server() as sink:
        yield sink


@pytest.fixture
def mail_settings(database_url: str, redis_url: str, smtp_sink: SmtpSink) -> Settings:
    """Settings whose emails go to the test's SMTP sink."""
    return make_settings(
        database_url, redis_url, ROSE_SMTP__HOST="127.0.0.1", ROSE_SMTP__PORT=str(smtp_sink.port)
    )


@pytest.fixture
async def live(database_url: str, redis_url: str, redis: aioredis.Redis) -> AsyncIterator[Platform]:
    """Apps served for real (Hypercorn on free loopback ports) in this test; see
    tests/support/live.py."""
    platform = Platform(database_url, redis_url)
    try:
        yield platform
    finally:
        await platform.close()


@pytest.fixture
def sso(live: Platform, smtp_sink: SmtpSink) -> Platform:
    """The live platform with its emails going to the test's SMTP sink (tests/support/live.py)."""
    live.env.update(ROSE_SMTP__HOST="127.0.0.1", ROSE_SMTP__PORT=str(smtp_sink.port))
    return live


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    b = Browser()
    yield b
    await b.aclose()
