"""Helpers for tests whose work really commits (concurrent workers, load, other processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_session_factory

AP_TABLES = (
    "ap_delivery_attempts, ap_deliveries, ap_activities, ap_followers, ap_hosts, "
    "ap_remote_actors, ap_inbound_activities"
)


@asynccontextmanager
async def engine_for(
    settings: Settings,
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """A process-like engine of its own (its own pool and connections)."""
    engine = create_engine(settings)
    try:
        yield engine, create_session_factory(engine)
    finally:
        await engine.dispose()


async def truncate(settings: Settings, *more: str) -> None:
    """Empty the ActivityPub tables (and ``more``, with what refers to them)."""
    tables = ", ".join((AP_TABLES, *more))
    async with engine_for(settings) as (engine, _), engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
