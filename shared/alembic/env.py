"""Alembic environment: async engine, bounded lock and statement times, one advisory lock.

The advisory lock makes concurrent migrators (a deploy's migration step, a second
`rose-ash migrate` by hand) queue up instead of racing; the second one finds the schema already at
head and does nothing. Waiting for it is bounded by ``database.migration_lock_wait_s``, not by
``lock_timeout`` (which bounds every other lock a migration takes); a migrator that waits says so
once, and one that gives up raises MigrationLockTimeout, which `rose-ash migrate` prints as one
line.
"""

from __future__ import annotations

import asyncio
import sys

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from shared.models import Base
from shared.tooling.migrate import MIGRATION_LOCK_KEY, MigrationLockTimeout

config = context.config
target_metadata = Base.metadata


LOCK_NOT_AVAILABLE = "55P03"


def _take_the_lock(connection: Connection, wait_s: float) -> None:
    """The migration lock, waiting up to ``wait_s`` for a migrator that holds it."""
    got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    if got.scalar():
        return
    print(
        f"rose-ash migrate: another migration holds the lock; waiting up to {wait_s:g} s",
        file=sys.stderr,
        flush=True,
    )
    connection.execute(text(f"SET lock_timeout = {max(1, int(wait_s * 1000))}"))
    try:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    except DBAPIError as err:
        causes = (err.orig, getattr(err.orig, "__cause__", None))
        if all(getattr(c, "sqlstate", None) != LOCK_NOT_AVAILABLE for c in causes):
            raise
        raise MigrationLockTimeout(
            f"another migration still held the lock after {wait_s:g} s "
            "(database.migration_lock_wait_s); nothing was changed"
        ) from None
    print("rose-ash migrate: got the lock", file=sys.stderr, flush=True)


def _do_run(connection: Connection) -> None:
    settings = config.attributes["settings"]
    _take_the_lock(connection, float(settings.database.migration_lock_wait_s))
    connection.execute(text(f"SET lock_timeout = {int(settings.database.lock_timeout_ms)}"))
    connection.execute(text("SET statement_timeout = 600000"))
    try:
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            compare_server_default=False,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()


async def _run_async() -> None:
    engine = create_async_engine(config.attributes["database_url"], poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_do_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
asyncio.run(_run_async())
