"""Small factories for the newsletter tests: a newsletter with confirmed subscribers and a
draft issue, through the real NewsletterService, and settings that send to a list server."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import IssueDTO, IssueInput, NewsletterDTO
from shared.services.newsletters.service import SqlNewsletterService
from tests.support.settings import make_settings


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


async def newsletter_with(
    db: AsyncSession,
    newsletters: SqlNewsletterService,
    addresses: list[str],
    *,
    name: str = "Weekly market",
    actor_id: int = 1,
) -> NewsletterDTO:
    """A newsletter with these addresses subscribed and confirmed."""
    newsletter = await newsletters.create_newsletter(db, name, actor_id=actor_id)
    for address in addresses:
        await newsletters.subscribe(db, newsletter.id, address, confirmed=True)
    return newsletter


async def draft(
    db: AsyncSession,
    newsletters: SqlNewsletterService,
    newsletter_id: int,
    actor_id: int,
    subject: str = "Apples are in",
) -> IssueDTO:
    return await newsletters.create_issue(
        db,
        newsletter_id,
        IssueInput(
            subject=subject,
            html="<p>The first <strong>apples</strong> are here.</p>"
            '<p><a href="https://blog.rose-ash.test/posts/apples">Read more</a></p>',
        ),
        actor_id=actor_id,
    )
