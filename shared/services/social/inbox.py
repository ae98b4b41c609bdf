"""Inbound activities that concern members: follows and their answers, posts (kept when a
member follows the author, is addressed, or is answered), edits, deletes, likes, boosts,
blocks and moves (``remote_blocks``, ``moves``) and their undoing. The app actors' handling
takes whatever this leaves (None)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ApObjectDTO, ReceivedDTO, RemoteActorDTO
from shared.errors import DomainError
from shared.infrastructure.activitypub import members, remote
from shared.infrastructure.activitypub.actors import PUBLIC
from shared.infrastructure.activitypub.remote import id_of, visitor_of
from shared.models import (
    ApRemoteActor,
    SocialAccount,
    SocialFavourite,
    SocialFollow,
    SocialMention,
    SocialStatus,
)
from shared.services.social._common import (
    MAX_SPOILER_CHARS,
    as_list,
    blocked_between,
    can_see,
    clean_text,
    first_url,
    is_limited,
    now,
    sanitize_remote,
)
from shared.services.social.follows import SocialFollows
from shared.services.social.moderation import receive_flag
from shared.services.social.moves import SocialMoves
from shared.services.social.remote_accounts import SocialRemoteAccounts
from shared.services.social.remote_blocks import SocialRemoteBlocks

STATUS_TYPES = ("Note", "Article", "Event", "Page", "Question")
PUBLIC_IDS = (PUBLIC, "as:Public", "Public")


class SocialInbox(SocialMoves, SocialRemoteBlocks, SocialFollows, SocialRemoteAccounts):
    """Acting on verified inbound activities."""

    async def receive(
        self, session: AsyncSession, inbound: ApObjectDTO, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        """Act on a verified inbound activity that concerns members; None when it does not
        (an app actor's follow, say), so the app actors' handling takes it."""
        activity = dict(inbound.data)
        kind = str(activity.get("type") or "")
        suspended = await session.scalar(
            select(SocialAccount.id).where(
                SocialAccount.uri == sender.uri, SocialAccount.suspended_at.is_not(None)
            )
        )
        if suspended is not None:
            return ReceivedDTO("suspended", kind)
        obj = activity.get("object")
        if kind == "Follow":
            member = await self._local_target(session, id_of(obj))
            if member is None:
                return None
            return await self._on_follow(session, member, activity, sender)
        if kind in ("Accept", "Reject"):
            return await self._on_answer(session, kind, obj, sender)
        if kind == "Undo":
            return await self._on_undo(session, obj, sender)
        if kind in ("Create", "Update"):
            if isinstance(obj, dict) and obj.get("type") in STATUS_TYPES:
                return await self._on_status(session, kind, obj, activity, sender)
            if kind == "Update" and isinstance(obj, dict) and id_of(obj) == sender.uri:
                existing = await session.scalar(
                    select(SocialAccount.id).where(SocialAccount.uri == sender.uri)
                )
                if existing is not None:
                    await self._upsert_remote(session, obj)
                    return ReceivedDTO("profile_updated", kind)
            return None
        if kind == "Delete":
            return await self._on_delete(session, obj, sender)
        if kind == "Like":
            return await self._on_like(session, activity, sender)
        if kind == "Announce":
            return await self._on_announce(session, activity, sender)
        if kind == "Block":
            return await self._on_block(session, activity, sender)
        if kind == "Move":
            return await self._on_move(session, activity, sender)
        if kind == "Flag":
            return await receive_flag(session, self.settings, activity, sender)
        return None

    async def _local_target(self, session: AsyncSession, uri: str | None) -> SocialAccount | None:
        username = members.username_of(self.settings, uri or "")
        return await self._local_by_username(session, username) if username else None

    async def _on_follow(
        self,
        session: AsyncSession,
        member: SocialAccount,
        activity: dict[str, Any],
        sender: RemoteActorDTO,
    ) -> ReceivedDTO:
        follow_uri = id_of(activity)
        if follow_uri is None:
            raise DomainError("ap_follow_id", "A Follow needs an id.")
        follower = await self._sender_account(session, sender)
        if follower.inbox_url is None:
            raise DomainError("ap_follower_inbox", "The follower has no inbox.")
        if member.suspended_at is not None or await blocked_between(
            session, member.id, follower.id, mutes=False
        ):
            await self._answer_remote_follow(session, member, follower, follow_uri, False)
            return ReceivedDTO("follow_refused", "Follow")
        # As Mastodon does for a silenced account: a limited domain's follow waits for approval.
        limited = await is_limited(session, follower.id)
        state = "pending" if member.locked or limited else "accepted"
        stmt = insert(SocialFollow).values(
            follower_id=follower.id, target_id=member.id, state=state, follow_uri=follow_uri
        )
        inserted = (
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[SocialFollow.follower_id, SocialFollow.target_id],
                    set_={"follow_uri": stmt.excluded.follow_uri},
                ).returning(SocialFollow.state, SocialFollow.created_at)
            )
        ).one()
        state = inserted.state
        if state == "accepted":
            await self._answer_remote_follow(session, member, follower, follow_uri, True)
        await self._notify(
            session, member.id, "follow" if state == "accepted" else "follow_request", follower.id
        )
        return ReceivedDTO("followed" if state == "accepted" else "follow_requested", "Follow")

    async def _on_answer(
        self, session: AsyncSession, kind: str, obj: Any, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        follow_uri = id_of(obj)
        if follow_uri is None:
            return None
        target = await session.scalar(select(SocialAccount).where(SocialAccount.uri == sender.uri))
        if target is None:
            return None
        condition = and_(SocialFollow.follow_uri == follow_uri, SocialFollow.target_id == target.id)
        if kind == "Accept":
            result = await session.execute(
                update(SocialFollow).where(condition).values(state="accepted")
            )
            outcome = "follow_accepted"
        else:
            result = await session.execute(delete(SocialFollow).where(condition))
            outcome = "follow_rejected"
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return ReceivedDTO(outcome, kind)

    async def _on_undo(
        self, session: AsyncSession, obj: Any, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        inner_uri = id_of(obj)
        inner_type = obj.get("type") if isinstance(obj, dict) else None
        if isinstance(obj, dict) and visitor_of(obj) not in (None, sender.uri):
            raise DomainError("ap_undo_actor", "Only the actor can undo their activity.")
        account = await session.scalar(select(SocialAccount).where(SocialAccount.uri == sender.uri))
        if account is None or inner_uri is None:
            return None
        if inner_type in (None, "Follow"):
            condition = SocialFollow.follower_id == account.id
            target = await self._local_target(
                session, id_of(obj.get("object")) if isinstance(obj, dict) else None
            )
            if target is not None:
                condition = condition & (SocialFollow.target_id == target.id)
            else:
                condition = condition & (SocialFollow.follow_uri == inner_uri)
            result = await session.execute(delete(SocialFollow).where(condition))
            if result.rowcount:  # type: ignore[attr-defined]
                return ReceivedDTO("unfollowed", "Undo")
            return None
        if inner_type == "Like":
            result = await session.execute(
                delete(SocialFavourite).where(
                    SocialFavourite.uri == inner_uri, SocialFavourite.account_id == account.id
                )
            )
            return ReceivedDTO("unliked" if result.rowcount else "noted", "Undo")  # type: ignore[attr-defined]
        if inner_type == "Announce":
            result = await session.execute(
                delete(SocialStatus).where(
                    SocialStatus.uri == inner_uri, SocialStatus.account_id == account.id
                )
            )
            return ReceivedDTO("unboosted" if result.rowcount else "noted", "Undo")  # type: ignore[attr-defined]
        if inner_type == "Block" and isinstance(obj, dict):
            return await self._on_undo_block(session, obj, account)
        return None

    async def _on_status(
        self,
        session: AsyncSession,
        kind: str,
        obj: dict[str, Any],
        activity: dict[str, Any],
        sender: RemoteActorDTO,
    ) -> ReceivedDTO | None:
        uri = id_of(obj)
        if uri is None or not remote.same_origin(uri, sender.uri):
            raise DomainError("ap_object_origin", "An actor can only post objects of its own.")
        if id_of(obj.get("attributedTo")) not in (None, sender.uri):
            raise DomainError("ap_object_author", "The object is attributed to someone else.")
        existing = await session.scalar(select(SocialStatus).where(SocialStatus.uri == uri))
        if kind == "Update":
            if existing is None:
                return None
            author = await session.get(SocialAccount, existing.account_id)
            if author is None or author.uri != sender.uri:
                raise DomainError("ap_object_author", "Only the author can edit a post.")
            self._apply_object(existing, obj)
            existing.edited_at = _parse_time(obj.get("updated")) or now()
            return ReceivedDTO("status_updated", kind)
        if existing is not None:
            return ReceivedDTO("noted", kind)
        # Is it anybody's business here? Followed author, addressed member, or a reply to us.
        addressed = set(_ids(obj.get("to"))) | set(_ids(obj.get("cc")))
        addressed |= set(_ids(activity.get("to"))) | set(_ids(activity.get("cc")))
        mention_uris = {
            href
            for t in as_list(obj.get("tag"))
            if isinstance(t, dict)
            and t.get("type") == "Mention"
            and isinstance((href := t.get("href")), str)
        }
        local_targets = [
            a
            for a in [
                await self._local_target(session, u)
                for u in sorted(addressed | mention_uris)
                if members.username_of(self.settings, u)
            ]
            if a is not None
        ]
        in_reply_to = id_of(obj.get("inReplyTo"))
        parent = (
            await session.scalar(select(SocialStatus).where(SocialStatus.uri == in_reply_to))
            if in_reply_to
            else None
        )
        author = await self._sender_account(session, sender)
        followed = bool(
            await session.scalar(
                select(
                    exists().where(
                        SocialFollow.target_id == author.id, SocialFollow.state == "accepted"
                    )
                )
            )
        )
        local_parent = parent is not None and parent.is_local
        if not (followed or local_targets or local_parent):
            return ReceivedDTO("noted", kind)
        if addressed & set(PUBLIC_IDS):
            visibility = "public" if set(_ids(obj.get("to"))) & set(PUBLIC_IDS) else "unlisted"
        else:
            followers_uri = await session.scalar(
                select(ApRemoteActor.document["followers"].astext).where(
                    ApRemoteActor.uri == sender.uri
                )
            )
            visibility = (
                "private"
                if (followers_uri and followers_uri in addressed)
                or any(a.endswith("/followers") for a in addressed)
                else "direct"
            )
        status = SocialStatus(
            uri=uri[:500],
            account_id=author.id,
            is_local=False,
            visibility=visibility,
            in_reply_to_uri=in_reply_to[:500] if in_reply_to else None,
            published_at=_parse_time(obj.get("published")) or now(),
        )
        self._apply_object(status, obj)
        session.add(status)
        await session.flush()
        notified: set[int] = set()
        if parent is not None and parent.is_local and parent.account_id != author.id:
            await self._notify(session, parent.account_id, "reply", author.id, status.id)
            notified.add(parent.account_id)
        for account in {a.id: a for a in local_targets}.values():
            session.add(SocialMention(status_id=status.id, account_id=account.id))
            if account.id not in notified and account.uri in mention_uris:
                await self._notify(session, account.id, "mention", author.id, status.id)
        return ReceivedDTO("status_created", kind)

    def _apply_object(self, status: SocialStatus, obj: dict[str, Any]) -> None:
        status.object_type = str(obj.get("type"))[:20]
        status.name = clean_text(obj.get("name"), 500) or None
        content = obj.get("content")
        if not isinstance(content, str):
            content_map = obj.get("contentMap")
            content = next(iter(content_map.values()), "") if isinstance(content_map, dict) else ""
        status.content = sanitize_remote(clean_text(content, 100_000))
        status.spoiler_text = clean_text(obj.get("summary"), MAX_SPOILER_CHARS)
        status.sensitive = obj.get("sensitive") is True or bool(status.spoiler_text)
        status.url = first_url(obj.get("url")) or status.uri
        attachments = obj.get("attachment")
        status.attachments = [
            {
                "url": url,
                "media_type": clean_text(a.get("mediaType"), 100),
                "description": clean_text(a.get("name"), 1500),
            }
            for a in (attachments if isinstance(attachments, list) else [attachments])
            if isinstance(a, dict) and (url := first_url(a.get("url")))
        ][:8]
        status.tags = [
            clean_text(t.get("name"), 100).lstrip("#").lower()
            for t in as_list(obj.get("tag"))
            if isinstance(t, dict) and t.get("type") == "Hashtag" and t.get("name")
        ][:20]

    async def _on_delete(
        self, session: AsyncSession, obj: Any, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        target = id_of(obj)
        account = await session.scalar(select(SocialAccount).where(SocialAccount.uri == sender.uri))
        if account is None or target is None:
            return None
        if target == sender.uri:
            await session.delete(account)  # their follows, posts and likes go with it
            await session.flush()
            return None  # the app actors forget the actor too
        # Gone for good, as its author asked (its boosts, likes and notifications with it):
        # a remote post is not ours to keep.
        result = await session.execute(
            delete(SocialStatus).where(
                SocialStatus.uri == target, SocialStatus.account_id == account.id
            )
        )
        return ReceivedDTO("status_deleted" if result.rowcount else "noted", "Delete")  # type: ignore[attr-defined]

    async def _on_like(
        self, session: AsyncSession, activity: dict[str, Any], sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        like_uri = id_of(activity)
        status = await session.scalar(
            select(SocialStatus).where(
                SocialStatus.uri == (id_of(activity.get("object")) or ""), SocialStatus.is_local
            )
        )
        if status is None or like_uri is None:
            return None
        account = await self._sender_account(session, sender)
        if not await can_see(session, status, account.id):
            return ReceivedDTO("noted", "Like")
        inserted = await session.scalar(
            insert(SocialFavourite)
            .values(account_id=account.id, status_id=status.id, uri=like_uri[:500])
            .on_conflict_do_nothing()
            .returning(SocialFavourite.id)
        )
        if inserted is not None:
            await self._notify(session, status.account_id, "like", account.id, status.id)
        return ReceivedDTO("liked", "Like")

    async def _on_announce(
        self, session: AsyncSession, activity: dict[str, Any], sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        uri = id_of(activity)
        target = await session.scalar(
            select(SocialStatus).where(
                SocialStatus.uri == (id_of(activity.get("object")) or ""),
                SocialStatus.reblog_of_id.is_(None),
                SocialStatus.deleted_at.is_(None),
                SocialStatus.visibility.in_(("public", "unlisted")),
            )
        )
        if target is None or uri is None:
            return None
        account = await self._sender_account(session, sender)
        followed = await session.scalar(
            select(exists().where(SocialFollow.target_id == account.id))
        )
        if not (target.is_local or followed):
            return ReceivedDTO("noted", "Announce")
        inserted = await session.scalar(
            insert(SocialStatus)
            .values(
                uri=uri[:500],
                account_id=account.id,
                is_local=False,
                object_type=target.object_type,
                visibility="public",
                reblog_of_id=target.id,
                published_at=_parse_time(activity.get("published")) or now(),
            )
            .on_conflict_do_nothing()
            .returning(SocialStatus.id)
        )
        if inserted is not None and target.is_local:
            await self._notify(session, target.account_id, "boost", account.id, target.id)
        return ReceivedDTO("boosted", "Announce")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [i for i in (id_of(v) for v in items) if i is not None]
