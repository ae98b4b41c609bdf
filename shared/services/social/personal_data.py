"""The member's fediverse account as personal data (the PersonalData capability): exported
whole, or erased as Mastodon deletes an account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PersonalDataDTO
from shared.infrastructure.activitypub import members
from shared.infrastructure.activitypub.actors import PUBLIC
from shared.models import (
    SocialAccount,
    SocialBlock,
    SocialFavourite,
    SocialFollow,
    SocialMention,
    SocialNotification,
    SocialStatus,
)
from shared.services import audit
from shared.services.social._common import now
from shared.services.social.media import SocialMedia


class SocialPersonalData(SocialMedia):
    """Export and erasure of a member's account."""

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The member's fediverse account: profile, posts (with their media), follows,
        followers, blocks and mutes."""
        row = await session.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
        if row is None:
            return PersonalDataDTO("social", {"account": None})
        posts = list(
            await session.scalars(
                select(SocialStatus)
                .where(SocialStatus.account_id == row.id, SocialStatus.deleted_at.is_(None))
                .order_by(SocialStatus.id)
            )
        )
        boosted = {
            s.id: s.uri
            for s in await session.scalars(
                select(SocialStatus).where(
                    SocialStatus.id.in_({p.reblog_of_id for p in posts if p.reblog_of_id})
                )
            )
        }

        async def related(mine: Any, other: Any) -> list[Any]:
            return list(
                (
                    await session.execute(
                        select(SocialAccount.uri, SocialFollow.state)
                        .join(SocialFollow, other == SocialAccount.id)
                        .where(mine == row.id)
                        .order_by(SocialFollow.id)
                    )
                ).all()
            )

        following = await related(SocialFollow.follower_id, SocialFollow.target_id)
        followers = await related(SocialFollow.target_id, SocialFollow.follower_id)
        blocks = list(
            (
                await session.execute(
                    select(SocialAccount.uri, SocialBlock.kind)
                    .join(SocialBlock, SocialBlock.target_id == SocialAccount.id)
                    .where(SocialBlock.account_id == row.id)
                    .order_by(SocialAccount.id)
                )
            ).all()
        )
        own_media = [a["url"] for p in posts for a in p.attachments if a.get("local")]
        profile_media = [u for u in (row.avatar_url, row.header_url) if u]
        return PersonalDataDTO(
            "social",
            {
                "account": {
                    "handle": self._acct(row),
                    "uri": row.uri,
                    "display_name": row.display_name,
                    "bio": row.summary,
                    "avatar_url": row.avatar_url,
                    "header_url": row.header_url,
                    "fields": [dict(f) for f in row.fields],
                    "locked": row.locked,
                    "hide_followers": row.hide_followers,
                    "discoverable": row.discoverable,
                    "also_known_as": list(row.also_known_as),
                    "moved_to": row.moved_to_uri,
                    "created_at": row.created_at.isoformat(),
                },
                "posts": [
                    {
                        "uri": p.uri,
                        "visibility": p.visibility,
                        "published_at": p.published_at.isoformat(),
                        "edited_at": p.edited_at.isoformat() if p.edited_at else None,
                        **(
                            {"boost_of": boosted.get(p.reblog_of_id)}
                            if p.reblog_of_id is not None
                            else {
                                "content": p.content,
                                "content_warning": p.spoiler_text,
                                "in_reply_to": p.in_reply_to_uri,
                                "tags": list(p.tags),
                                "media": [
                                    {"url": a["url"], "description": a.get("description", "")}
                                    for a in p.attachments
                                ],
                            }
                        ),
                    }
                    for p in posts
                ],
                "following": [{"uri": u, "state": st} for u, st in following],
                "followers": [{"uri": u, "state": st} for u, st in followers],
                "blocks": [{"uri": u, "kind": k} for u, k in blocks],
                "media": own_media + profile_media,
            },
        )

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Erase the member's fediverse account as Mastodon deletes one: each post deleted
        and the ``Delete`` sent to the followers and mentioned accounts that had it, then a
        ``Delete`` of the actor itself; follows both ways, blocks, likes, notifications and
        uploaded media removed. The row stays as a tombstone (suspended, emptied): its URL
        answers 410 Gone and its key still signs the Deletes waiting in the outbox, as
        Mastodon keeps a deleted account's key to sign its deletion."""
        row = await session.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
        if row is None:
            return
        urls = members.member_urls(self.settings, row.username)
        # The followers are fixed now: the follows are gone by the time the worker fans out.
        follower_inboxes = sorted(
            {
                shared or own
                for own, shared in await session.execute(
                    select(SocialAccount.inbox_url, SocialAccount.shared_inbox_url)
                    .join(SocialFollow, SocialFollow.follower_id == SocialAccount.id)
                    .where(
                        SocialFollow.target_id == row.id,
                        SocialFollow.state == "accepted",
                        SocialAccount.domain.is_not(None),
                        SocialAccount.inbox_url.is_not(None),
                    )
                )
                if own
            }
        )
        posts = list(
            await session.scalars(
                select(SocialStatus)
                .where(SocialStatus.account_id == row.id, SocialStatus.deleted_at.is_(None))
                .order_by(SocialStatus.id)
            )
        )
        media_urls = {a["url"] for p in posts for a in p.attachments if a.get("local")}
        media_urls |= {u for u in (row.avatar_url, row.header_url) if u}
        for status in posts:
            status.deleted_at = now()
            if status.reblog_of_id is not None:
                continue  # the actor's Delete below ends its boosts on other servers
            mentioned = [
                inbox
                for inbox in await session.scalars(
                    select(SocialAccount.inbox_url)
                    .join(SocialMention, SocialMention.account_id == SocialAccount.id)
                    .where(
                        SocialMention.status_id == status.id,
                        SocialAccount.domain.is_not(None),
                        SocialAccount.inbox_url.is_not(None),
                    )
                )
                if inbox
            ]
            targets = mentioned + (follower_inboxes if status.visibility != "direct" else [])
            if targets:
                await self._publish(
                    session,
                    row,
                    "Delete",
                    {"id": status.uri, "type": "Tombstone", "formerType": "Note"},
                    object_uri=status.uri,
                    is_public=False,
                    to_followers=False,
                    targets=targets,
                    to=[PUBLIC] if status.visibility in ("public", "unlisted") else [],
                    cc=[urls.followers],
                )
        # Remote accounts we followed: an Undo each, so they stop sending to a gone actor.
        followed: list[tuple[str, str, str]] = [
            (follow_uri, target_uri, inbox)
            for follow_uri, target_uri, inbox in await session.execute(
                select(SocialFollow.follow_uri, SocialAccount.uri, SocialAccount.inbox_url)
                .join(SocialAccount, SocialAccount.id == SocialFollow.target_id)
                .where(
                    SocialFollow.follower_id == row.id,
                    SocialAccount.domain.is_not(None),
                    SocialAccount.inbox_url.is_not(None),
                )
            )
            if inbox
        ]
        for follow_uri, target_uri, inbox in followed:
            await self._publish(
                session,
                row,
                "Undo",
                {"id": follow_uri, "type": "Follow", "actor": row.uri, "object": target_uri},
                object_uri=follow_uri,
                is_public=False,
                to_followers=False,
                targets=(inbox,),
                to=[target_uri],
                cc=[],
            )
        everyone = sorted(set(follower_inboxes) | {i for _, _, i in followed})
        if everyone:
            await self._publish(
                session,
                row,
                "Delete",
                row.uri,
                object_uri=row.uri,
                is_public=False,
                to_followers=False,
                targets=everyone,
                to=[PUBLIC],
                cc=[],
            )
        for model, column in (
            (SocialFollow, SocialFollow.follower_id),
            (SocialFollow, SocialFollow.target_id),
            (SocialBlock, SocialBlock.account_id),
            (SocialFavourite, SocialFavourite.account_id),
            (SocialNotification, SocialNotification.account_id),
        ):
            await session.execute(delete(model).where(column == row.id))
        # Posts keep their (emptied) rows: their URLs answer 410 like the actor's.
        await session.execute(
            update(SocialStatus)
            .where(SocialStatus.account_id == row.id)
            .values(content="", spoiler_text="", name=None, attachments=[], tags=[])
        )
        row.display_name = ""
        row.summary = ""
        row.avatar_url = None
        row.header_url = None
        row.fields = []
        row.also_known_as = []
        row.discoverable = False
        row.suspended_at = row.suspended_at or now()
        await session.flush()
        if row.user_id is not None:
            await self._forget_media(session, row.user_id, media_urls)
        audit.record(
            session,
            "social.account_erased",
            object_type="social_account",
            object_id=row.id,
            actor_user_id=user_id,
        )
