"""Alembic environment: async engine, bounded lock and statement times, one advisory lock.

The advisory lock makes concurrent migrators (several replicas starting at once) queue up
instead of racing; the second one finds the schema already at head and does nothing.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.models import Base
from shared.tooling.migrate import MIGRATION_LOCK_KEY

config = context.config
target_metadata = Base.metadata


def _do_run(connection: Connection) -> None:
    settings = config.attributes["settings"]
    connection.execute(text(f"SET lock_timeout = {int(settings.database.lock_timeout_ms)}"))
    connection.execute(text("SET statement_timeout = 600000"))
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
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
