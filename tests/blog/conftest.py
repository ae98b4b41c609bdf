"""Fixtures for the blog's tests: a running Ghost stand-in and settings that point at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from tests.blog.factories import WEBHOOK_SECRET
from tests.standins.ghost import GhostStandIn
from tests.support.settings import make_settings


@pytest.fixture
async def ghost() -> AsyncIterator[GhostStandIn]:
    standin = GhostStandIn()
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@pytest.fixture
def ghost_settings(database_url: str, redis_url: str, ghost: GhostStandIn) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        ROSE_GHOST__URL=ghost.url,
        ROSE_GHOST__TIMEOUT_S="0.5",
        ROSE_GHOST__WEBHOOK_TIMEOUT_S="0.5",
        ROSE_GHOST__PAGE_SIZE="10",
        ROSE_GHOST_CONTENT_KEY=ghost.content_key,
        ROSE_GHOST_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
