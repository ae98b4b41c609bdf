"""Likes and boosts of posts, and their undoing; remote authors hear of them."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import SocialStatusDTO
from shared.errors import DomainError, Forbidden
from shared.infrastructure.activitypub import members
from shared.infrastructure.activitypub.actors import PUBLIC
from shared.models import SocialAccount, SocialFavourite, SocialStatus
from shared.services.social._common import now, visible_status
from shared.services.social.accounts import SocialAccounts


class SocialInteractions(SocialAccounts):
    """Likes and boosts."""

    async def favourite(
        self, session: AsyncSession, user_id: int, status_id: int, *, undo: bool = False
    ) -> SocialStatusDTO:
        """Like (or unlike) a post the member can see; a remote author hears of it."""
        me = await self._local_row(session, user_id)
        status = await visible_status(session, status_id, me.id)
        author = await session.get(SocialAccount, status.account_id)
        assert author is not None
        existing = await session.scalar(
            select(SocialFavourite).where(
                SocialFavourite.account_id == me.id, SocialFavourite.status_id == status.id
            )
        )
        urls = members.member_urls(self.settings, me.username)
        remote_inbox = (author.inbox_url,) if author.domain is not None and author.inbox_url else ()
        if not undo and existing is None:
            uri = urls.activity(uuid.uuid4().hex)
            session.add(SocialFavourite(account_id=me.id, status_id=status.id, uri=uri))
            await session.flush()
            if author.domain is None and author.id != me.id:
                await self._notify(session, author.id, "like", me.id, status.id)
            if remote_inbox:
                await self._publish(
                    session,
                    me,
                    "Like",
                    status.uri,
                    object_uri=status.uri,
                    is_public=False,
                    to_followers=False,
                    targets=remote_inbox,
                    to=[author.uri],
                    cc=[],
                    uri=uri,
                )
        elif undo and existing is not None:
            if remote_inbox:
                await self._publish(
                    session,
                    me,
                    "Undo",
                    {"id": existing.uri, "type": "Like", "actor": me.uri, "object": status.uri},
                    object_uri=existing.uri,
                    is_public=False,
                    to_followers=False,
                    targets=remote_inbox,
                    to=[author.uri],
                    cc=[],
                )
            await session.delete(existing)
            await session.flush()
        [dto] = await self._hydrate(session, [status], me.id)
        return dto

    async def boost(
        self, session: AsyncSession, user_id: int, status_id: int, *, undo: bool = False
    ) -> SocialStatusDTO:
        """Boost (or un-boost) a public or unlisted post: an ``Announce`` to followers."""
        me = await self._local_row(session, user_id)
        status = await visible_status(session, status_id, me.id)
        if status.reblog_of_id is not None:
            raise DomainError("social_boost_boost", "Boost the original post instead.")
        if status.visibility not in ("public", "unlisted"):
            raise Forbidden("social_boost_private", "Only public posts can be boosted.")
        author = await session.get(SocialAccount, status.account_id)
        assert author is not None
        existing = await session.scalar(
            select(SocialStatus).where(
                SocialStatus.account_id == me.id,
                SocialStatus.reblog_of_id == status.id,
                SocialStatus.deleted_at.is_(None),
            )
        )
        urls = members.member_urls(self.settings, me.username)
        if not undo and existing is None:
            # A boost deleted earlier keeps its row (and unique key): revive it.
            old = await session.scalar(
                select(SocialStatus).where(
                    SocialStatus.account_id == me.id, SocialStatus.reblog_of_id == status.id
                )
            )
            if old is not None:
                await session.delete(old)
                await session.flush()
            uri = urls.activity(uuid.uuid4().hex)
            boost = SocialStatus(
                uri=uri,
                account_id=me.id,
                is_local=True,
                object_type=status.object_type,
                visibility="public",
                reblog_of_id=status.id,
                published_at=now(),
            )
            session.add(boost)
            await session.flush()
            if author.domain is None and author.id != me.id:
                await self._notify(session, author.id, "boost", me.id, status.id)
            await self._publish(
                session,
                me,
                "Announce",
                status.uri,
                object_uri=status.uri,
                is_public=True,
                to_followers=True,
                targets=(author.inbox_url,)
                if author.domain is not None and author.inbox_url
                else (),
                to=[PUBLIC],
                cc=[author.uri, urls.followers],
                uri=uri,
            )
        elif undo and existing is not None:
            existing.deleted_at = now()
            await self._undo_boost(session, me, existing, status)
        [dto] = await self._hydrate(session, [status], me.id)
        return dto

    async def _undo_boost(
        self, session: AsyncSession, me: SocialAccount, boost: SocialStatus, target: SocialStatus
    ) -> None:
        author = await session.get(SocialAccount, target.account_id)
        assert author is not None
        urls = members.member_urls(self.settings, me.username)
        await self._publish(
            session,
            me,
            "Undo",
            {"id": boost.uri, "type": "Announce", "actor": me.uri, "object": target.uri},
            object_uri=boost.uri,
            is_public=False,
            to_followers=True,
            targets=(author.inbox_url,) if author.domain is not None and author.inbox_url else (),
            to=[PUBLIC],
            cc=[urls.followers],
        )
        await session.flush()
