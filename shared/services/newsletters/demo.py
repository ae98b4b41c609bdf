"""The newsletters' demo seeder; the content is in demo.yaml beside it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import load_settings
from shared.contracts import IssueInput
from shared.infrastructure.context import services
from shared.models import Newsletter, User
from shared.services.domain import demo_content
from shared.services.newsletters.sender import digest_html


async def seed_newsletters(session: AsyncSession) -> None:
    """Two newsletters with confirmed subscribers (members and one address without an
    account) and a draft issue of the weekly one built from the latest posts, ready for
    staff to preview, test and send from ``/editor/newsletters/`` on the account app."""
    if await session.scalar(select(func.count()).select_from(Newsletter)):
        return
    content = demo_content(__file__)
    newsletters = services().newsletters
    subscribers = content["subscribers"]
    wanted = {content["staff"], *subscribers["members"]}
    users = {
        u.username: u for u in (await session.scalars(select(User))).all() if u.username in wanted
    }
    staff_id = users[content["staff"]].id
    created = [
        await newsletters.create_newsletter(
            session, newsletter["name"], newsletter["about"], actor_id=staff_id
        )
        for newsletter in content["newsletters"]
    ]
    for username in subscribers["members"]:
        user = users[username]
        for newsletter in created:
            await newsletters.subscribe(
                session, newsletter.id, user.email, user_id=user.id, confirmed=True
            )
    for address in subscribers["addresses"]:
        for newsletter in created:
            await newsletters.subscribe(session, newsletter.id, address, confirmed=True)
    issue = content["draft_issue"]
    posts = await services().blog.feed(session, limit=issue["posts"])
    if posts:
        blog_url = load_settings().apps["blog"].public_url
        await newsletters.create_issue(
            session,
            created[0].id,
            IssueInput(
                subject=f"{issue['subject']}{posts[0].title}",
                html=digest_html(posts, (), blog_url=blog_url, intro=issue["intro"]),
            ),
            actor_id=staff_id,
        )
