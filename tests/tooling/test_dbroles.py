"""`rose-ash db roles`: the apps connect as a role that reads and writes rows and cannot change
the schema; the migrations run as the owner, and what they create later is granted too."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.support.settings import asyncpg_dsn, settings_environ


@dataclass(frozen=True)
class TwoRoles:
    owner_url: str
    app_url: str
    app_role: str


@pytest.fixture
async def two_roles(server_urls: tuple[str, str]) -> AsyncIterator[TwoRoles]:
    """A database owned by a role of its own (not a superuser) and the name of the apps' role."""
    base_url, _ = server_urls
    tag = secrets.token_hex(4)
    name, owner, app = f"rose_ash_roles_{tag}", f"rose_owner_{tag}", f"rose_app_{tag}"
    owner_pw, app_pw = secrets.token_hex(8), secrets.token_hex(8)
    dsn, kwargs = asyncpg_dsn(base_url)
    admin = await asyncpg.connect(dsn, **kwargs)
    await admin.execute(f"CREATE ROLE {owner} LOGIN CREATEROLE PASSWORD '{owner_pw}'")
    await admin.execute(f'CREATE DATABASE "{name}" OWNER {owner}')
    base = make_url(base_url).set(database=name)
    try:
        yield TwoRoles(
            owner_url=base.set(username=owner, password=owner_pw).render_as_string(False),
            app_url=base.set(username=app, password=app_pw).render_as_string(False),
            app_role=app,
        )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f"DROP ROLE IF EXISTS {app}")
        await admin.execute(f"DROP ROLE IF EXISTS {owner}")
        await admin.close()


async def _rose_ash(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.tooling.cli",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_the_apps_role_writes_rows_but_cannot_change_the_schema(
    two_roles: TwoRoles, redis_url: str
) -> None:
    env = settings_environ(two_roles.app_url, redis_url, MIGRATE_DATABASE_URL=two_roles.owner_url)
    code, out = await _rose_ash("migrate", env=env)
    assert code == 0, out
    code, out = await _rose_ash("db", "roles", env=env)
    assert code == 0, out
    assert f"The apps' role '{two_roles.app_role}' was created and may read and write" in out
    code, out = await _rose_ash("db", "roles", env=env)  # again: nothing new, no error
    assert code == 0, out
    assert "was created" not in out

    # The apps run as it: the demo content (every domain's rows) and the worker's stages.
    app_env = {**env, "MIGRATE_DATABASE_URL": ""}
    code, out = await _rose_ash("demo", env=app_env)
    assert code == 0, out
    code, out = await _rose_ash("worker", "--once", env=app_env)
    assert code == 0, out

    dsn, kwargs = asyncpg_dsn(two_roles.app_url)
    app = await asyncpg.connect(dsn, **kwargs)
    try:
        assert await app.fetchval("SELECT current_user") == two_roles.app_role
        assert await app.fetchval("SELECT count(*) FROM blog_posts") > 0
        for ddl in (
            "CREATE TABLE sneaky (id int)",
            "DROP TABLE blog_posts",
            "ALTER TABLE blog_posts ADD COLUMN sneaky int",
            "TRUNCATE blog_posts",
            "CREATE INDEX sneaky ON blog_posts (id)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(ddl)
    finally:
        await app.close()

    # A table a later migration creates (as the owner) is the apps' to use at once.
    dsn, kwargs = asyncpg_dsn(two_roles.owner_url)
    owner = await asyncpg.connect(dsn, **kwargs)
    try:
        await owner.execute("CREATE TABLE later_table (id bigint GENERATED ALWAYS AS IDENTITY)")
    finally:
        await owner.close()
    dsn, kwargs = asyncpg_dsn(two_roles.app_url)
    app = await asyncpg.connect(dsn, **kwargs)
    try:
        await app.execute("INSERT INTO later_table DEFAULT VALUES")
        assert await app.fetchval("SELECT count(*) FROM later_table") == 1
    finally:
        await app.close()


async def test_db_roles_refuses_one_role_for_both(two_roles: TwoRoles, redis_url: str) -> None:
    env = settings_environ(two_roles.owner_url, redis_url, MIGRATE_DATABASE_URL=two_roles.owner_url)
    code, out = await _rose_ash("db", "roles", env=env)
    assert code != 0
    assert "the apps need a role of their own" in out
    assert "Traceback" not in out


async def test_db_roles_needs_the_owners_url(two_roles: TwoRoles, redis_url: str) -> None:
    env = settings_environ(two_roles.app_url, redis_url)
    code, out = await _rose_ash("db", "roles", env=env)
    assert code != 0
    assert "MIGRATE_DATABASE_URL is not set" in out
