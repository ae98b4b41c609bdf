"""`rose-ash user ...`: the first admin of a fresh install, created from the command line."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from shared.models import User
from shared.services.identity.service import SqlIdentityService
from tests.support.settings import TEST_SECRET_KEY, make_settings

DOMAIN = "cli.rose-ash.test"


@pytest.fixture
async def cli_users(engine: AsyncEngine) -> AsyncIterator[None]:
    """The CLI commits for real: remove what it made."""
    yield
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM users WHERE email LIKE :p"), {"p": f"%@{DOMAIN}"})


async def rose_ash(database_url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ROSE_")},
        "DATABASE_URL": database_url,
        "ROSE_SECRET_KEY": TEST_SECRET_KEY,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.tooling.cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode())
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.usefixtures("cli_users")
async def test_user_create_admin_then_sign_in_with_the_password(
    database_url: str, engine: AsyncEngine
) -> None:
    code, out, err = await rose_ash(
        database_url,
        "user",
        "create",
        "--admin",
        "--email",
        f"root@{DOMAIN}",
        "--username",
        "rowan",
        "--display-name",
        "Root Admin",
        stdin="a long admin password\n",
    )
    assert code == 0, err
    assert "Created rowan" in out
    service = SqlIdentityService.from_settings(make_settings(database_url, "redis://unused"))
    async with async_sessionmaker(engine)() as db:
        account = await service.authenticate(db, "rowan", "a long admin password")
        assert account.roles == ("member", "admin")
        assert account.email_verified
        assert account.display_name == "Root Admin"
        user = await db.get(User, account.id)
        assert user is not None
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")

    # The same address again: one line, no traceback, nothing changed.
    code, out, err = await rose_ash(
        database_url,
        "user",
        "create",
        "--email",
        f"ROOT@{DOMAIN}",
        "--username",
        "rowan2",
        "--password",
        "another long password",
    )
    assert code == 2
    assert err.strip() == (
        "rose-ash: error: An account with that email address already exists. (email_taken)"
    )

    code, out, err = await rose_ash(
        database_url, "user", "set-password", "rowan", stdin="the newer password\n"
    )
    assert code == 0, err
    async with async_sessionmaker(engine)() as db:
        assert (await service.authenticate(db, "rowan", "the newer password")).id == account.id


@pytest.mark.usefixtures("cli_users")
async def test_user_create_refuses_a_short_password(database_url: str) -> None:
    code, _, err = await rose_ash(
        database_url,
        "user",
        "create",
        "--email",
        f"short@{DOMAIN}",
        "--username",
        "short",
        stdin="short\n",
    )
    assert code == 2
    assert "(weak_password)" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("cli_users")
@pytest.mark.parametrize("username", ["federation", "Blog", "admin", "root", "www"])
async def test_user_create_refuses_a_reserved_username(
    database_url: str, engine: AsyncEngine, username: str
) -> None:
    """The app actors' names (and the operators') would break WebFinger's round trip."""
    code, _, err = await rose_ash(
        database_url,
        "user",
        "create",
        "--email",
        f"reserved@{DOMAIN}",
        "--username",
        username,
        "--password",
        "a long enough password",
    )
    assert code == 2
    assert "(reserved_username)" in err
    assert "Traceback" not in err
    async with engine.connect() as conn:
        made = await conn.scalar(
            text("SELECT count(*) FROM users WHERE email LIKE :p"), {"p": f"%@{DOMAIN}"}
        )
    assert made == 0
