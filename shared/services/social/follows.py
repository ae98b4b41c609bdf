"""Follows: following (a remote account is asked with a ``Follow``), unfollowing, answering
follow requests, and the lists of followers and followed accounts."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import RelationshipDTO, SocialAccountDTO
from shared.errors import DomainError, Forbidden, NotFound
from shared.infrastructure.activitypub import members
from shared.models import SocialAccount, SocialBlock, SocialFollow
from shared.services import audit
from shared.services.social._common import blocked_between
from shared.services.social.accounts import SocialAccounts


class SocialFollows(SocialAccounts):
    """Follows between accounts."""

    async def relationship(
        self, session: AsyncSession, user_id: int, account_id: int
    ) -> RelationshipDTO:
        me = await self._local_row(session, user_id)
        state = await session.scalar(
            select(SocialFollow.state).where(
                SocialFollow.follower_id == me.id, SocialFollow.target_id == account_id
            )
        )
        followed_by = await session.scalar(
            select(
                exists().where(
                    SocialFollow.follower_id == account_id,
                    SocialFollow.target_id == me.id,
                    SocialFollow.state == "accepted",
                )
            )
        )
        kind = await session.scalar(
            select(SocialBlock.kind).where(
                SocialBlock.account_id == me.id, SocialBlock.target_id == account_id
            )
        )
        return RelationshipDTO(
            state or "none", bool(followed_by), blocking=kind == "block", muting=kind == "mute"
        )

    async def follow(self, session: AsyncSession, user_id: int, account_id: int) -> RelationshipDTO:
        """Follow an account: a remote one is asked with a ``Follow`` (pending until it
        accepts); a local one is followed at once unless it is locked."""
        me = await self._local_row(session, user_id)
        target = await session.get(SocialAccount, account_id)
        if target is None:
            raise NotFound("social_no_account", "There is no such account.")
        if target.id == me.id:
            raise DomainError("social_follow_self", "You cannot follow yourself.")
        if target.suspended_at is not None or await blocked_between(session, me.id, target.id):
            raise Forbidden("social_follow_blocked", "You cannot follow this account.")
        existing = await session.scalar(
            select(SocialFollow).where(
                SocialFollow.follower_id == me.id, SocialFollow.target_id == target.id
            )
        )
        if existing is not None:
            return await self.relationship(session, user_id, account_id)
        urls = members.member_urls(self.settings, me.username)
        follow_uri = urls.activity(uuid.uuid4().hex)
        state = "pending" if (target.domain is not None or target.locked) else "accepted"
        session.add(
            SocialFollow(follower_id=me.id, target_id=target.id, state=state, follow_uri=follow_uri)
        )
        await session.flush()
        if target.domain is not None:
            if target.inbox_url is None:
                raise DomainError("social_no_inbox", "That account cannot be followed.")
            await self._publish_to(
                session,
                me,
                "Follow",
                target.uri,
                target,
                object_uri=target.uri,
                uri=follow_uri,
            )
        else:
            await self._notify(
                session,
                target.id,
                "follow" if state == "accepted" else "follow_request",
                me.id,
            )
        audit.record(
            session,
            "social.followed",
            object_type="social_account",
            object_id=target.id,
            actor_user_id=user_id,
            after={"state": state},
        )
        return RelationshipDTO(state, await self._follows(session, target.id, me.id))

    async def _follows(self, session: AsyncSession, follower_id: int, target_id: int) -> bool:
        return bool(
            await session.scalar(
                select(
                    exists().where(
                        SocialFollow.follower_id == follower_id,
                        SocialFollow.target_id == target_id,
                        SocialFollow.state == "accepted",
                    )
                )
            )
        )

    async def unfollow(
        self, session: AsyncSession, user_id: int, account_id: int
    ) -> RelationshipDTO:
        me = await self._local_row(session, user_id)
        row = await session.scalar(
            select(SocialFollow).where(
                SocialFollow.follower_id == me.id, SocialFollow.target_id == account_id
            )
        )
        if row is not None:
            target = await session.get(SocialAccount, account_id)
            assert target is not None
            if target.domain is not None and target.inbox_url is not None:
                await self._publish_to(
                    session,
                    me,
                    "Undo",
                    {
                        "id": row.follow_uri,
                        "type": "Follow",
                        "actor": me.uri,
                        "object": target.uri,
                    },
                    target,
                    object_uri=row.follow_uri,
                )
            await session.delete(row)
            await session.flush()
        return await self.relationship(session, user_id, account_id)

    async def follow_requests(self, session: AsyncSession, user_id: int) -> list[SocialAccountDTO]:
        me = await self._local_row(session, user_id)
        rows = await session.scalars(
            select(SocialAccount)
            .join(SocialFollow, SocialFollow.follower_id == SocialAccount.id)
            .where(SocialFollow.target_id == me.id, SocialFollow.state == "pending")
            .order_by(SocialFollow.id)
        )
        return [self._dto(r) for r in rows]

    async def answer_follow_request(
        self, session: AsyncSession, user_id: int, account_id: int, *, accept: bool
    ) -> None:
        """Accept or reject a pending follow of the member's (locked) account."""
        me = await self._local_row(session, user_id)
        row = await session.scalar(
            select(SocialFollow).where(
                SocialFollow.follower_id == account_id,
                SocialFollow.target_id == me.id,
                SocialFollow.state == "pending",
            )
        )
        if row is None:
            raise NotFound("social_no_request", "There is no such follow request.")
        follower = await session.get(SocialAccount, account_id)
        assert follower is not None
        if follower.domain is not None and follower.inbox_url is not None:
            await self._answer_remote_follow(session, me, follower, row.follow_uri, accept)
        if accept:
            row.state = "accepted"
            await self._notify(session, me.id, "follow", follower.id)
        else:
            await session.delete(row)
        await session.flush()

    async def _answer_remote_follow(
        self,
        session: AsyncSession,
        me: SocialAccount,
        follower: SocialAccount,
        follow_uri: str,
        accept: bool,
    ) -> None:
        assert follower.inbox_url is not None
        await self._publish_to(
            session,
            me,
            "Accept" if accept else "Reject",
            {"id": follow_uri, "type": "Follow", "actor": follower.uri, "object": me.uri},
            follower,
            object_uri=follow_uri,
        )

    async def followers(
        self, session: AsyncSession, account_id: int, *, page: int, limit: int
    ) -> tuple[list[SocialAccountDTO], int]:
        """Accepted followers, oldest first, and how many there are."""
        return await self._follow_list(session, account_id, page, limit, followers=True)

    async def following(
        self, session: AsyncSession, account_id: int, *, page: int, limit: int
    ) -> tuple[list[SocialAccountDTO], int]:
        return await self._follow_list(session, account_id, page, limit, followers=False)

    async def _follow_list(
        self, session: AsyncSession, account_id: int, page: int, limit: int, *, followers: bool
    ) -> tuple[list[SocialAccountDTO], int]:
        mine = SocialFollow.target_id if followers else SocialFollow.follower_id
        other = SocialFollow.follower_id if followers else SocialFollow.target_id
        condition = and_(mine == account_id, SocialFollow.state == "accepted")
        total = int(
            await session.scalar(select(func.count()).select_from(SocialFollow).where(condition))
            or 0
        )
        rows = await session.scalars(
            select(SocialAccount)
            .join(SocialFollow, other == SocialAccount.id)
            .where(condition)
            .order_by(SocialFollow.id)
            .offset((max(page, 1) - 1) * limit)
            .limit(limit)
        )
        return [self._dto(r) for r in rows], total
