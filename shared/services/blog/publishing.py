"""Writing posts and pages for the editor: creating, updating, publishing now or on a
schedule (and the worker's run that publishes what is due), unpublishing and deleting; each
write brings the fediverse in line with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostDTO, PostInput
from shared.contracts.errors import InvalidPost
from shared.errors import Conflict
from shared.models.blog import BlogPost
from shared.services.blog._common import ACTOR, now_utc, with_relations
from shared.services.blog.content import BlogContent
from shared.services.blog.fediverse import BlogFediverse


class BlogPublishing(BlogContent, BlogFediverse):
    """The editor's writes and scheduled publishing (part of ``SqlBlogService``)."""

    async def create_post(self, session: AsyncSession, data: PostInput) -> PostDTO:
        """A new draft post or page; its slug comes from the title unless one is given."""
        post = BlogPost(status="draft")
        await self._apply(session, post, data, dedupe_slug=not data.slug)
        return await self.get_post(session, post.id)

    async def update_post(self, session: AsyncSession, post_id: int, data: PostInput) -> PostDTO:
        """Replace a post's content; a changed slug keeps the old one as a redirect."""
        post = await self._lock(session, post_id)
        await self._apply(session, post, data, dedupe_slug=False)
        return await self._federate(session, post, changed=True)

    async def publish(
        self, session: AsyncSession, post_id: int, *, now: datetime | None = None
    ) -> PostDTO:
        """Make a post live now (idempotent); a first publication is dated now."""
        now = now or now_utc()
        post = await self._lock(session, post_id)
        if post.status != "published":
            if post.published_at is None or post.published_at > now:
                post.published_at = now
            post.status = "published"
            await session.flush()
        return await self._federate(session, post, changed=False)

    async def schedule(
        self,
        session: AsyncSession,
        post_id: int,
        at: datetime,
        *,
        now: datetime | None = None,
    ) -> PostDTO:
        """Have a draft go live at ``at`` (in the future, with a time zone)."""
        now = now or now_utc()
        if at.tzinfo is None:
            raise InvalidPost("naive_datetime", "Give the time with its time zone.", "at")
        if at <= now:
            raise InvalidPost("schedule_in_past", "Choose a time in the future.", "at")
        post = await self._lock(session, post_id)
        if post.status == "published":
            raise Conflict("already_published", "This post is already published.")
        post.status = "scheduled"
        post.published_at = at
        await session.flush()
        return await self.get_post(session, post_id)

    async def unpublish(self, session: AsyncSession, post_id: int) -> PostDTO:
        """Back to draft (a scheduled post is unscheduled); the publication date is kept."""
        post = await self._lock(session, post_id)
        if post.status == "scheduled":
            post.published_at = None
        post.status = "draft"
        await session.flush()
        return await self._federate(session, post, changed=False)

    async def delete_post(self, session: AsyncSession, post_id: int) -> None:
        post = await self._lock(session, post_id)
        federated = post.ap_object_uri
        await session.delete(post)
        await session.flush()
        if federated is not None:
            await self.federation.publish(session, ACTOR, "Delete", federated)

    async def publish_due_scheduled(
        self, session: AsyncSession, now: datetime | None = None
    ) -> tuple[PostDTO, ...]:
        """Publish every scheduled post whose time has come; returns what went live.

        Safe to run from several workers at once (rows are claimed with SKIP LOCKED) and to
        run twice (a published post is no longer scheduled).
        """
        now = now or now_utc()
        due = (
            select(BlogPost.id)
            .where(BlogPost.status == "scheduled", BlogPost.published_at <= now)
            .with_for_update(skip_locked=True)
        )
        ids = list(
            await session.scalars(
                update(BlogPost)
                .where(BlogPost.id.in_(due.scalar_subquery()))
                .values(status="published")
                .returning(BlogPost.id)
                .execution_options(synchronize_session=False)
            )
        )
        if not ids:
            return ()
        rows = await session.scalars(
            with_relations(select(BlogPost))
            .where(BlogPost.id.in_(ids))
            .order_by(BlogPost.published_at, BlogPost.id)
            .execution_options(populate_existing=True)
        )
        return tuple([await self._federate(session, p, changed=False) for p in rows])
