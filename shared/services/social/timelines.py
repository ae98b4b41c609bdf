"""Reading posts: the home and local timelines, an account's posts, one post and its
replies, and a member's outbox collection."""

from __future__ import annotations

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from shared.contracts import ApObjectDTO, SocialOutboxPageDTO, SocialStatusDTO, TimelinePageDTO
from shared.errors import NotFound
from shared.models import ApActivity, SocialFollow, SocialStatus
from shared.services.social._common import (
    mentions,
    not_hidden,
    not_limited,
    visible_status,
    visible_to,
)
from shared.services.social.accounts import SocialAccounts


class SocialTimelines(SocialAccounts):
    """Timelines and the outbox."""

    async def home_timeline(
        self, session: AsyncSession, user_id: int, *, max_id: int | None, limit: int
    ) -> TimelinePageDTO:
        """The member's own posts, those of accounts they follow and those addressed to them
        (unless by a limited domain's account they do not follow)."""
        me = await self._local_row(session, user_id)
        followed = select(SocialFollow.target_id).where(
            SocialFollow.follower_id == me.id, SocialFollow.state == "accepted"
        )
        condition = and_(
            or_(
                SocialStatus.account_id == me.id,
                and_(
                    SocialStatus.account_id.in_(followed),
                    SocialStatus.visibility.in_(("public", "unlisted", "private")),
                ),
                mentions(me.id),
            ),
            not_limited(me.id),
        )
        return await self._page(session, condition, me.id, max_id, limit)

    async def local_timeline(
        self, session: AsyncSession, viewer_user_id: int | None, *, max_id: int | None, limit: int
    ) -> TimelinePageDTO:
        """Public posts of the cooperative's members, newest first."""
        viewer = await self._viewer(session, viewer_user_id)
        condition = and_(
            SocialStatus.is_local,
            SocialStatus.visibility == "public",
            SocialStatus.reblog_of_id.is_(None),
        )
        return await self._page(session, condition, viewer, max_id, limit)

    async def account_statuses(
        self,
        session: AsyncSession,
        account_id: int,
        viewer_user_id: int | None,
        *,
        max_id: int | None,
        limit: int,
    ) -> TimelinePageDTO:
        """An account's posts that the viewer may see (a profile page)."""
        viewer = await self._viewer(session, viewer_user_id)
        condition = and_(SocialStatus.account_id == account_id, visible_to(viewer))
        return await self._page(session, condition, viewer, max_id, limit)

    async def status(
        self, session: AsyncSession, status_id: int, viewer_user_id: int | None
    ) -> SocialStatusDTO:
        """One post, if the viewer may see it (else NotFound: its existence is not told)."""
        viewer = await self._viewer(session, viewer_user_id)
        row = await visible_status(session, status_id, viewer)
        [dto] = await self._hydrate(session, [row], viewer)
        return dto

    async def replies(
        self, session: AsyncSession, status_id: int, viewer_user_id: int | None
    ) -> list[SocialStatusDTO]:
        """A post's replies the viewer may see (a limited domain's only to its followers)."""
        viewer = await self._viewer(session, viewer_user_id)
        row = await visible_status(session, status_id, viewer)
        rows = list(
            await session.scalars(
                select(SocialStatus)
                .where(
                    SocialStatus.in_reply_to_uri == row.uri,
                    SocialStatus.deleted_at.is_(None),
                    visible_to(viewer),
                    not_limited(viewer),
                )
                .order_by(SocialStatus.id)
                .limit(200)
            )
        )
        return await self._hydrate(session, rows, viewer)

    async def outbox(
        self, session: AsyncSession, username: str, *, max_id: int | None, limit: int
    ) -> SocialOutboxPageDTO:
        """A member's public activities (public and unlisted posts only) that still stand,
        newest first: (page, total, next max_id). A post deleted since (or a boost undone, or
        of a post gone) is not listed, nor counted."""
        me = await self._local_by_username(session, username)
        if me is None:
            raise NotFound("social_no_account", "There is no such member.")
        # The post (a Create's object, a boost's target) must stand, and a boost (its status
        # has the Announce's id) must not have been undone.
        boost = aliased(SocialStatus)
        condition = and_(
            ApActivity.actor_account_id == me.id,
            ApActivity.is_public,
            ApActivity.activity_type.in_(("Create", "Announce")),
            exists().where(
                SocialStatus.uri == ApActivity.object_uri, SocialStatus.deleted_at.is_(None)
            ),
            or_(
                ApActivity.activity_type != "Announce",
                exists().where(boost.uri == ApActivity.uri, boost.deleted_at.is_(None)),
            ),
        )
        total = int(
            await session.scalar(select(func.count()).select_from(ApActivity).where(condition)) or 0
        )
        query = select(ApActivity).where(condition)
        if max_id is not None:
            query = query.where(ApActivity.id < max_id)
        rows = list(await session.scalars(query.order_by(ApActivity.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        items = tuple(
            ApObjectDTO({k: v for k, v in r.payload.items() if k != "@context"}) for r in rows
        )
        return SocialOutboxPageDTO(items, total, rows[-1].id if more and rows else None)

    async def _page(
        self,
        session: AsyncSession,
        condition: ColumnElement[bool],
        viewer: int | None,
        max_id: int | None,
        limit: int,
    ) -> TimelinePageDTO:
        query = select(SocialStatus).where(
            condition, SocialStatus.deleted_at.is_(None), not_hidden(viewer)
        )
        if max_id is not None:
            query = query.where(SocialStatus.id < max_id)
        rows = list(await session.scalars(query.order_by(SocialStatus.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        items = await self._hydrate(session, rows, viewer)
        return TimelinePageDTO(tuple(items), rows[-1].id if more and rows else None)
