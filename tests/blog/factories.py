"""Small factories for blog content, going through the real BlogService."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostDTO, PostInput
from shared.infrastructure.context import services
from shared.models import BlogAuthor

_seq = count(1)
BASE_TIME = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


async def author(db: AsyncSession, slug: str = "", name: str = "") -> BlogAuthor:
    n = next(_seq)
    row = BlogAuthor(slug=slug or f"author-{n}", name=name or f"Author {n}")
    db.add(row)
    await db.flush()
    return row


async def post(
    db: AsyncSession,
    title: str = "",
    *,
    html: str = "<p>Body text.</p>",
    publish: bool = True,
    when: datetime | None = None,
    **fields: object,
) -> PostDTO:
    """A post (published by default, at ``when`` or a fresh time after the last one)."""
    n = next(_seq)
    dto = await services().blog.create_post(
        db,
        PostInput(title=title or f"Post number {n}", html=html, **fields),  # type: ignore[arg-type]
    )
    if publish:
        dto = await services().blog.publish(
            db, dto.id, now=when or BASE_TIME + timedelta(minutes=n)
        )
    return dto
