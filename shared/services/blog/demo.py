"""The blog's demo seeder; the content is in demo.yaml beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostInput
from shared.infrastructure.context import services
from shared.infrastructure.sanitize import slugify
from shared.models import BlogAuthor, BlogPost, User
from shared.services.domain import demo_content

# Pages are published this many days ago.
PAGES_DAYS_AGO = 30


def _post_input(kind: str, spec: dict[str, Any]) -> PostInput:
    fields: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in spec.items()
        if key != "days_ago"
    }
    return PostInput(kind=kind, **fields)


async def seed_blog(session: AsyncSession) -> None:
    """Authors, tags, eight posts (one for members only, one showing Ghost's cards, one placing
    an event), two pages and the members' dashboard widgets, once."""
    content = demo_content(__file__)
    blog = services().blog

    users: dict[str, int] = dict((await session.execute(select(User.username, User.id))).all())
    for author in content["authors"]:
        slug = author["slug"]
        exists = await session.scalar(select(BlogAuthor.id).where(BlogAuthor.slug == slug))
        if exists is None:
            username = author["username"]
            user_id = users.get(username) if username else None
            session.add(
                BlogAuthor(slug=slug, name=author["name"], bio=author["bio"], user_id=user_id)
            )
    await session.flush()
    now = datetime.now(UTC).replace(microsecond=0)
    items = [(_post_input("post", spec), spec["days_ago"]) for spec in content["posts"]] + [
        (_post_input("page", spec), PAGES_DAYS_AGO) for spec in content["pages"]
    ]
    for fields, days_ago in items:
        slug = fields.slug or slugify(fields.title)
        if await session.scalar(select(BlogPost.id).where(BlogPost.slug == slug)) is not None:
            continue
        post = await blog.create_post(session, fields)
        await blog.publish(session, post.id, now=now - timedelta(days=days_ago, hours=3))
    if not await blog.dashboard_widgets(session):
        await blog.set_dashboard_widgets(session, content["dashboard_widgets"])
