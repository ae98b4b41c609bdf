"""Fixtures for the social hub's tests: the federation app, a loopback server for remote
accounts with alice on it (found by her handle), and the OutboxProcessor run inline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.config import Settings
from shared.infrastructure.factory import RoseQuart
from shared.services.federation.outbox import OutboxProcessor
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor
from tests.support.settings import AppMaker


@pytest.fixture
async def remote() -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def alice(remote: LoopbackServer) -> RemoteActor:
    actor = make_actor(remote, "alice")
    host = remote.base().split("://", 1)[1]
    remote.documents[f"{remote.base()}/.well-known/webfinger"] = {
        "subject": f"acct:alice@{host}",
        "links": [{"rel": "self", "type": "application/activity+json", "href": actor.id}],
    }
    return actor


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("federation")


@pytest.fixture
async def processor(settings: Settings, session_factory: Any) -> AsyncIterator[OutboxProcessor]:
    async with OutboxProcessor(settings, session_factory, worker_id="social-test") as proc:
        yield proc
