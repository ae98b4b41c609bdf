"""Fixtures for the account app's tests: an SMTP server on loopback that can refuse or hold
messages the way real servers do, and newsletter data made through the account service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import IssueDTO, IssueInput, NewsletterDTO
from shared.services.newsletters.service import SqlNewsletterService
from tests.conftest import make_settings
from tests.support import SmtpSink


class ListServer(SmtpSink):
    """An SMTP sink whose answers a test chooses: ``refuse`` maps a recipient to the reply
    to RCPT TO (``550 ...`` a bounce, ``451 ...`` a temporary failure); ``hold_from`` makes
    the N-th message (counting from 1) and later ones wait before the final reply, and never
    be kept (as when the sender dies before the server accepted it)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, str] = {}
        self.hold_from: int | None = None
        self.held = 0
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.seen = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.seen += 1
        if self.hold_from is not None and self.seen >= self.hold_from:
            self.held += 1
            self.holding.set()
            await self.release.wait()
            return "451 4.3.0 the sender went away"
        return await super().handle_DATA(server, session, envelope)

    def count(self, address: str) -> int:
        return len(self.to(address))


@contextlib.asynccontextmanager
async def list_server() -> AsyncIterator[ListServer]:
    from aiosmtpd.smtp import SMTP

    sink = ListServer()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="smtp.rose-ash.test"), "127.0.0.1", 0
    )
    sink.port = int(server.sockets[0].getsockname()[1])
    try:
        yield sink
    finally:
        sink.release.set()
        server.close()
        await server.wait_closed()


@pytest.fixture
async def smtp_list() -> AsyncIterator[ListServer]:
    async with list_server() as sink:
        yield sink


def list_settings(database_url: str, redis_url: str, port: int, **env: str) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        **{
            "ROSE_SMTP__HOST": "127.0.0.1",
            "ROSE_SMTP__PORT": str(port),
            "ROSE_NEWSLETTERS__RATE_PER_S": "1000",
            **env,
        },
    )


@pytest.fixture
def list_mail_settings(database_url: str, redis_url: str, smtp_list: ListServer) -> Settings:
    return list_settings(database_url, redis_url, smtp_list.port)


@pytest.fixture
def account(settings: Settings) -> SqlNewsletterService:
    return SqlNewsletterService.from_settings(settings)


async def newsletter_with(
    db: AsyncSession,
    account: SqlNewsletterService,
    addresses: list[str],
    *,
    name: str = "Weekly market",
    actor_id: int = 1,
) -> NewsletterDTO:
    """A newsletter with these addresses subscribed and confirmed."""
    newsletter = await account.create_newsletter(db, name, actor_id=actor_id)
    for address in addresses:
        await account.subscribe(db, newsletter.id, address, confirmed=True)
    return newsletter


async def draft(
    db: AsyncSession,
    account: SqlNewsletterService,
    newsletter_id: int,
    actor_id: int,
    subject: str = "Apples are in",
) -> IssueDTO:
    return await account.create_issue(
        db,
        newsletter_id,
        IssueInput(
            subject=subject,
            html="<p>The first <strong>apples</strong> are here.</p>"
            '<p><a href="https://blog.rose-ash.test/posts/apples">Read more</a></p>',
        ),
        actor_id=actor_id,
    )
