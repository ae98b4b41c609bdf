"""What the Ghost sync (:mod:`shared.services.blog.ghost_sync`) stores through the
BlogService contract: Ghost's posts and pages, keyed by their Ghost id, and its tags and
authors; local items are never touched."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostInput, SyncedAuthor, SyncedTag
from shared.models.blog import BlogAuthor, BlogPost, BlogTag
from shared.services.blog._common import ACTOR
from shared.services.blog.content import BlogContent
from shared.services.blog.fediverse import BlogFediverse

log = logging.getLogger(__name__)


class BlogSynced(BlogContent, BlogFediverse):
    """The Ghost sync's writes (part of ``SqlBlogService``)."""

    async def upsert_synced_post(
        self,
        session: AsyncSession,
        *,
        ghost_id: str,
        ghost_updated_at: datetime,
        published_at: datetime,
        data: PostInput,
        ghost_slug: str | None = None,
        announce: bool = True,
    ) -> str:
        """Create or replace the published item Ghost knows as ``ghost_id``: "created",
        "updated" or "unchanged".

        Skips the write when Ghost's ``updated_at`` is the one already stored. A slug that a
        local post already uses gets a suffix rather than failing the whole run (logged);
        ``ghost_slug`` keeps Ghost's own. ``announce=False`` puts the item's activities in
        the outbox without delivering them to followers (Ghost's back catalogue).
        """
        post = await session.scalar(
            select(BlogPost).where(BlogPost.ghost_id == ghost_id).with_for_update()
        )
        if post is not None and post.ghost_updated_at == ghost_updated_at:
            return "unchanged"
        outcome = "updated"
        if post is None:
            post = BlogPost(ghost_id=ghost_id)
            outcome = "created"
        post.status = "published"
        post.published_at = published_at
        post.ghost_updated_at = ghost_updated_at
        if ghost_slug is not None and ghost_slug != post.ghost_slug:
            # Ghost's slugs are unique: one an item no longer has may have moved to another.
            await session.execute(
                update(BlogPost)
                .where(BlogPost.ghost_slug == ghost_slug, BlogPost.ghost_id != ghost_id)
                .values(ghost_slug=None)
            )
            post.ghost_slug = ghost_slug
        await self._apply(session, post, data, dedupe_slug=True)
        if data.slug and post.slug != data.slug:
            log.warning(
                "ghost sync: Ghost's %s %r is stored as %r: a local item has that slug",
                data.kind,
                data.slug,
                post.slug,
            )
        await self._federate(session, post, changed=True, deliver=announce)
        return outcome

    async def delete_synced(self, session: AsyncSession, ghost_ids: Iterable[str]) -> int:
        """Remove the items Ghost no longer has; returns how many went."""
        ids = list(ghost_ids)
        if not ids:
            return 0
        result = await session.execute(
            delete(BlogPost)
            .where(BlogPost.ghost_id.in_(ids))
            .returning(BlogPost.id, BlogPost.ap_object_uri)
        )
        gone = result.all()
        for _id, federated in gone:
            if federated is not None:
                await self.federation.publish(session, ACTOR, "Delete", federated)
        return len(gone)

    async def synced_versions(self, session: AsyncSession, kind: str) -> dict[str, datetime]:
        """Ghost id -> Ghost ``updated_at`` of every synced item of ``kind``."""
        rows = await session.execute(
            select(BlogPost.ghost_id, BlogPost.ghost_updated_at).where(
                BlogPost.kind == kind, BlogPost.ghost_id.is_not(None)
            )
        )
        return {gid: updated for gid, updated in rows.all() if gid and updated}

    async def sync_tags(self, session: AsyncSession, tags: Sequence[SyncedTag]) -> int:
        """Make the synced tags exactly ``tags``; local tags are left alone."""
        return await self._sync_named(session, BlogTag, tags, prune=True)

    async def sync_authors(self, session: AsyncSession, authors: Sequence[SyncedAuthor]) -> int:
        """Make the synced authors exactly ``authors``; local authors are left alone."""
        return await self._sync_named(session, BlogAuthor, authors, prune=True)

    async def upsert_synced_tags(self, session: AsyncSession, tags: Sequence[SyncedTag]) -> int:
        """Create or update these synced tags, leaving the others alone."""
        return await self._sync_named(session, BlogTag, tags, prune=False)

    async def upsert_synced_authors(
        self, session: AsyncSession, authors: Sequence[SyncedAuthor]
    ) -> int:
        """Create or update these synced authors, leaving the others alone."""
        return await self._sync_named(session, BlogAuthor, authors, prune=False)

    async def _sync_named(
        self,
        session: AsyncSession,
        model: type[BlogTag] | type[BlogAuthor],
        synced: Sequence[SyncedTag] | Sequence[SyncedAuthor],
        *,
        prune: bool,
    ) -> int:
        items = [asdict(item) for item in synced]
        if model is BlogTag:
            # Only Ghost's public tags are synced: a local tag adopted by one becomes public.
            for item in items:
                item["visibility"] = "public"
        wanted = {item["ghost_id"]: item for item in items}
        if prune:
            await session.execute(
                delete(model).where(
                    model.ghost_id.is_not(None), model.ghost_id.not_in(list(wanted))
                )
            )
        if not wanted:
            return 0
        rows: Iterable[Any] = await session.scalars(
            select(model).where(
                or_(
                    model.ghost_id.in_(list(wanted)),
                    # A local row with the same slug is the same tag/author: adopt it.
                    model.slug.in_([i["slug"] for i in items]) & model.ghost_id.is_(None),
                )
            )
        )
        existing = {row.ghost_id or row.slug: row for row in rows}
        for ghost_id, item in wanted.items():
            row = existing.get(ghost_id) or existing.get(item["slug"])
            if row is None:
                row = model(ghost_id=ghost_id, slug=item["slug"], name=item["name"])
                session.add(row)
            for key, value in item.items():
                setattr(row, key, value)
        await session.flush()
        return len(wanted)
