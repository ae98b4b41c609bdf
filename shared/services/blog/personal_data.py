"""What the blog holds about a member (the bylines linked to their account), for the
account app's export and erasure (``PersonalData``)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PersonalDataDTO
from shared.models.blog import BlogAuthor, BlogPost, BlogPostAuthor
from shared.services.blog._base import BlogBase


class BlogPersonalData(BlogBase):
    """Export and erasure (part of ``SqlBlogService``)."""

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The bylines linked to the member's account and every post or page under them."""
        authors = (
            await session.scalars(select(BlogAuthor).where(BlogAuthor.user_id == user_id))
        ).all()
        posts = (
            await session.scalars(
                select(BlogPost)
                .join(BlogPostAuthor, BlogPostAuthor.post_id == BlogPost.id)
                .where(BlogPostAuthor.author_id.in_([a.id for a in authors]))
                .order_by(BlogPost.created_at, BlogPost.id)
                .distinct()
            )
        ).all()
        return PersonalDataDTO(
            "blog",
            {
                "authors": [
                    {"slug": a.slug, "name": a.name, "bio": a.bio, "website": a.website}
                    for a in authors
                ],
                "posts": [
                    {
                        "kind": p.kind,
                        "title": p.title,
                        "slug": p.slug,
                        "status": p.status,
                        "created_at": p.created_at.isoformat(),
                        "published_at": p.published_at.isoformat() if p.published_at else None,
                        "html": p.html,
                    }
                    for p in posts
                ],
            },
        )

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Unlink the member's bylines from their account. What they published stays, under
        its byline: it is the cooperative's publication (an editor removes a post on
        request, which is an editorial decision, not an automatic one)."""
        await session.execute(
            update(BlogAuthor).where(BlogAuthor.user_id == user_id).values(user_id=None)
        )
