"""Blocks across servers, as Mastodon sends and reads them: a member's block of a remote
account is told to that account's server (``Block``, and ``Undo`` of it when lifted; a mute
stays ours alone), and a remote account's ``Block`` of a member ends the follows between them
both ways and is recorded as that account's block of the member, so that nothing of theirs is
shown to the member (Mastodon's ``ActivityPub::Activity::Block`` and ``Undo#undo_block``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ReceivedDTO, RemoteActorDTO
from shared.infrastructure.activitypub import members
from shared.infrastructure.activitypub.remote import id_of
from shared.models import SocialAccount, SocialBlock, SocialFollow
from shared.services.social.follows import SocialFollows
from shared.services.social.remote_accounts import SocialRemoteAccounts


class SocialRemoteBlocks(SocialFollows, SocialRemoteAccounts):
    """Sending and receiving ``Block``."""

    async def _tell_blocked(
        self,
        session: AsyncSession,
        me: SocialAccount,
        target: SocialAccount,
        before: tuple[str, str | None] | None,
        after: SocialBlock | None,
    ) -> None:
        """Tell a remote account's server that the member blocks it now (``Block``) or no
        longer does (``Undo``); ``before`` is the (kind, uri) the member had, ``after`` the
        block or mute they have now."""
        if target.domain is None or target.inbox_url is None:
            return
        before_kind, before_uri = before or (None, None)
        is_block = after is not None and after.kind == "block"
        if before_kind == "block" and after is not None and is_block:
            after.uri = before_uri  # the same block, asked for again: nothing to tell
            return
        if before_kind == "block":
            block_uri = before_uri or f"{me.uri}#blocks/{target.id}"
            await self._publish_to(
                session,
                me,
                "Undo",
                {"id": block_uri, "type": "Block", "actor": me.uri, "object": target.uri},
                target,
                object_uri=block_uri,
            )
        if after is not None and is_block:
            after.uri = members.member_urls(self.settings, me.username).activity(uuid.uuid4().hex)
            await self._publish_to(
                session,
                me,
                "Block",
                target.uri,
                target,
                object_uri=target.uri,
                uri=after.uri,
            )
            await session.flush()

    async def _on_block(
        self, session: AsyncSession, activity: dict[str, Any], sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        """A remote account blocks a member: the follows between them end both ways (the
        member's with an ``Undo``, as an unfollow), and the block is recorded."""
        member = await self._member_at(session, id_of(activity.get("object")))
        if member is None:
            return None
        blocker = await self._sender_account(session, sender)
        block_uri = id_of(activity)
        if member.user_id is not None:
            await self.unfollow(session, member.user_id, blocker.id)
        pair = (blocker.id, member.id)
        await session.execute(
            delete(SocialFollow).where(
                tuple_(SocialFollow.follower_id, SocialFollow.target_id).in_([pair, pair[::-1]])
            )
        )
        stmt = insert(SocialBlock).values(
            account_id=blocker.id,
            target_id=member.id,
            kind="block",
            uri=block_uri[:500] if block_uri else None,
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[SocialBlock.account_id, SocialBlock.target_id],
                set_={"kind": "block", "uri": stmt.excluded.uri},
            )
        )
        await session.flush()
        return ReceivedDTO("blocked", "Block")

    async def _on_undo_block(
        self, session: AsyncSession, obj: dict[str, Any], blocker: SocialAccount
    ) -> ReceivedDTO | None:
        """A remote account lifts its block of a member."""
        member = await self._member_at(session, id_of(obj.get("object")))
        if member is None:
            return None
        result = await session.execute(
            delete(SocialBlock).where(
                SocialBlock.account_id == blocker.id,
                SocialBlock.target_id == member.id,
                SocialBlock.kind == "block",
            )
        )
        return ReceivedDTO("unblocked" if result.rowcount else "noted", "Undo")  # type: ignore[attr-defined]

    async def _member_at(self, session: AsyncSession, uri: str | None) -> SocialAccount | None:
        """The member whose actor ``uri`` is, if it is one of ours."""
        username = members.username_of(self.settings, uri or "")
        return await self._local_by_username(session, username) if username else None
