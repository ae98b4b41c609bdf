"""Widget tests with real servers write through committed sessions (the served apps must see
the rows); :func:`real_db` removes what a test added afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.models import (
    BlogPost,
    DashboardWidget,
    Event,
    EventCalendar,
    EventEmbedOrigin,
    MarketPage,
)
from tests.support.live import Platform

# Rows a test adds to these tables are removed after it (by id, above what was there before).
ADDED = (BlogPost, MarketPage, Event, EventCalendar)
# These the widget tests own entirely.
OWNED = (DashboardWidget, EventEmbedOrigin)


@pytest.fixture
async def real_db(live: Platform, engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose commits are real (torn down before ``live``, whose members it may
    reference)."""
    async with engine.connect() as conn:
        before = {model: await conn.scalar(select(func.max(model.id))) or 0 for model in ADDED}
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    async with engine.begin() as conn:
        for model in (*ADDED, *OWNED):
            query = delete(model)
            if model in before:
                query = query.where(model.id > before[model])
            await conn.execute(query)
