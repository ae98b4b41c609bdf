"""Test fixtures: real PostgreSQL and Redis, one fresh database per run, a rolled-back
transaction per test.

``TEST_DATABASE_URL`` (any database on the server; a fresh one is created beside it) and
``TEST_REDIS_URL`` are used when set; otherwise an embedded PostgreSQL and an embedded
Valkey are started once for the whole run.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from joserfc.jwk import RSAKey
from quart.typing import TestClientProtocol
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import APP_NAMES, Settings, load_settings
from shared.contracts import AccountDTO
from shared.contracts.services import Services
from shared.db import async_url
from shared.infrastructure.context import use_services
from shared.infrastructure.factory import RoseQuart
from shared.services.identity.service import SqlIdentityService
from shared.services.registry import build_services
from shared.tooling import migrate
from shared.tooling.devservers import EmbeddedPostgres, EmbeddedValkey
from tests.support import Browser, SmtpSink, smtp_sink_server

TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
TEST_INTERNAL_SECRET = "test-internal-secret-" + "y" * 32
# One RSA key for the whole run: it signs federation's ID tokens in every test.
TEST_OIDC_PRIVATE_KEY = RSAKey.generate_key(2048).as_pem(private=True).decode()


# The collector's full passes over this process's heap (every app, engine and page that earlier
# tests built) take up to 0.6 s on these machines: longer than the fragment timeouts the
# composition tests measure, so one landing inside a test made a healthy provider look hung.
# Full passes therefore never start on their own here; they run between tests, every
# FULL_GC_EVERY tests. The apps under test keep Python's defaults in their own processes.
FULL_GC_EVERY = 25
_tests_since_full_gc = 0


def pytest_configure(config: pytest.Config) -> None:
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1_000_000_000)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    global _tests_since_full_gc
    _tests_since_full_gc += 1
    if _tests_since_full_gc >= FULL_GC_EVERY:
        _tests_since_full_gc = 0
        gc.collect()


def _asyncpg_dsn(url: str) -> tuple[str, dict[str, str]]:
    """A DSN asyncpg accepts, plus the host query (unix socket dir) when there is one."""
    parsed = make_url(url).set(drivername="postgresql")
    host = parsed.query.get("host")
    kwargs = {"host": str(host)} if host else {}
    return parsed.set(query={}).render_as_string(hide_password=False), kwargs


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(PostgreSQL URL of an existing database, Redis URL) for the whole run."""
    started: list[EmbeddedPostgres | EmbeddedValkey] = []
    pg_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not pg_url:
        pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", delete_on_stop=True)
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
    dsn, kwargs = _asyncpg_dsn(base_url)
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
    dsn, kwargs = _asyncpg_dsn(base_url)
    admin = await asyncpg.connect(dsn, **kwargs)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = async_url(make_url(base_url).set(database=name).render_as_string(hide_password=False))
    try:
        await asyncio.to_thread(migrate.upgrade, make_settings(url, "redis://unused"), url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
def redis_url(server_urls: tuple[str, str]) -> str:
    return server_urls[1]


@functools.cache
def ap_private_key_for_tests() -> str:
    """One RSA key for the whole run: generating a 2048-bit key takes a noticeable moment."""
    from shared.infrastructure.activitypub.keys import generate_private_key_pem

    return generate_private_key_pem()


def unreachable_internal_urls() -> dict[str, str]:
    """Internal URLs where nothing listens: a test's apps never reach the dev ports 8001-8006
    (someone may be running the platform there); tests that need providers start their own."""
    from tests.support import closed_port

    return {
        f"ROSE_APPS__{name.upper()}__INTERNAL_URL": f"http://127.0.0.1:{closed_port()}"
        for name in APP_NAMES
    }


def make_settings(database_url: str, redis_url: str, **env: str) -> Settings:
    environ = {
        "ROSE_ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ROSE_SECRET_KEY": TEST_SECRET_KEY,
        "ROSE_INTERNAL_SECRET": TEST_INTERNAL_SECRET,
        "ROSE_AP_PRIVATE_KEY": ap_private_key_for_tests(),
        # Test peers listen on loopback.
        "ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES": "true",
        "ROSE_OIDC_PRIVATE_KEY": TEST_OIDC_PRIVATE_KEY,
        # Real argon2id, at a cost that keeps hundreds of sign-ins quick (the default
        # cost is checked in tests/identity/test_service.py).
        "ROSE_ACCOUNTS__ARGON2_TIME_COST": "1",
        "ROSE_ACCOUNTS__ARGON2_MEMORY_KIB": "8192",
        "ROSE_ACCOUNTS__ARGON2_PARALLELISM": "1",
        # Tests write through their own sessions and read pages right after: the full-page
        # cache is switched on by the tests that are about it
        # (tests/infrastructure/test_pagecache.py) and in every test that runs the platform as
        # `rose-ash up` does (browser journeys).
        "ROSE_PAGECACHE__ENABLED": "false",
        **unreachable_internal_urls(),
        # SumUp keys, and an address where nothing answers: tests that take payments start
        # the stand-in and point base_url at it (tests/cart).
        "ROSE_SUMUP_API_KEY": "sup_sk_test_" + "z" * 24,
        "ROSE_SUMUP_MERCHANT_CODE": "MTESTCODE",
        "ROSE_SUMUP__BASE_URL": f"http://127.0.0.1:{closed_port_for_tests()}",
        **env,
    }
    return load_settings(environ=environ)


def closed_port_for_tests() -> int:
    from tests.support import closed_port

    return closed_port()


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
    from sqlalchemy.ext.asyncio import create_async_engine

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


AppMaker = Callable[..., Awaitable[RoseQuart]]


@pytest.fixture
async def make_app(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
) -> AsyncIterator[AppMaker]:
    """Build an app by name, started, with its requests inside the test's transaction."""
    import importlib

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


REPO_ROOT = Path(__file__).resolve().parent.parent


# --- single sign-on: a mail sink, members, and apps served over real HTTP --------------------


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


MEMBER_PASSWORD = "correct horse battery staple"


async def make_member(
    db: AsyncSession,
    username: str,
    *,
    email: str | None = None,
    password: str = MEMBER_PASSWORD,
    roles: tuple[str, ...] = (),
    verified: bool = True,
    display_name: str = "",
    settings: Settings | None = None,
) -> AccountDTO:
    """A member with a password (verified unless told otherwise), flushed in ``db``; the
    password is hashed at the cost ``settings`` give (the tests' cheap one by default)."""
    settings = settings or make_settings("postgresql://unused", "redis://unused")
    service = SqlIdentityService.from_settings(settings)
    return await service.create_account(
        db,
        email=email or f"{username}@members.rose-ash.test",
        username=username,
        password=password,
        roles=roles,
        verified=verified,
        display_name=display_name,
    )


async def signed_in(
    app: RoseQuart, db: AsyncSession, username: str, *roles: str, display_name: str = ""
) -> TestClientProtocol:
    """A test client of ``app`` signed in as a new member ``username`` with ``roles``."""
    from shared.infrastructure.context import services

    account = await make_member(db, username, roles=roles, display_name=display_name)
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    client = app.test_client()
    async with client.session_transaction() as cookie:
        cookie["_auth"] = {"uid": account.id, "sid": sign_in.sid}
    return client


@pytest.fixture
async def live(database_url: str, redis_url: str, redis: aioredis.Redis) -> AsyncIterator[Any]:
    """Apps served for real (Hypercorn on free loopback ports) in this test; see
    tests/support/live.py."""
    from tests.support.live import Platform

    platform = Platform(database_url, redis_url)
    try:
        yield platform
    finally:
        await platform.close()


@pytest.fixture
def sso(live: Any, smtp_sink: SmtpSink) -> Any:
    """The live platform with its emails going to the test's SMTP sink (tests/support/live.py)."""
    live.env.update(ROSE_SMTP__HOST="127.0.0.1", ROSE_SMTP__PORT=str(smtp_sink.port))
    return live


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    b = Browser()
    yield b
    await b.aclose()
