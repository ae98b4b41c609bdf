"""Fixtures for the ActivityPub tests: loopback remote servers and actors on them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import FederationService
from shared.services.federation.outbox import OutboxProcessor
from tests.federation.factories import federation_for
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor


@pytest.fixture
async def remote() -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def alice(remote: LoopbackServer) -> RemoteActor:
    return make_actor(remote, "alice")


@pytest.fixture
async def processor(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[OutboxProcessor]:
    """The OutboxProcessor, run inline inside the test's transaction."""
    async with OutboxProcessor(settings, session_factory, worker_id="test-worker") as proc:
        yield proc


@pytest.fixture
def federation(settings: Settings) -> FederationService:
    """The federation service as the registry wires it for these settings."""
    return federation_for(settings)
