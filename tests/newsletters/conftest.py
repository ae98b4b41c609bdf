"""Fixtures for the newsletter tests: an SMTP server on loopback that can refuse or hold
messages the way real servers do, and settings whose emails go to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from tests.newsletters.factories import list_settings
from tests.support import ListServer, list_server


@pytest.fixture
async def smtp_list() -> AsyncIterator[ListServer]:
    async with list_server() as sink:
        yield sink


@pytest.fixture
def list_mail_settings(database_url: str, redis_url: str, smtp_list: ListServer) -> Settings:
    return list_settings(database_url, redis_url, smtp_list.port)
