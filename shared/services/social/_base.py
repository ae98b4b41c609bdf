"""The base every social section builds on: the settings, accounts and posts as DTOs (in a
fixed number of queries), writing a member's activity to the outbox, notifying a member,
and signed fetches from other servers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from quart import current_app, has_app_context
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import AttachmentDTO, SocialAccountDTO, SocialStatusDTO
from shared.infrastructure.activitypub import knock, members
from shared.infrastructure.activitypub.actors import CONTEXT, actor_urls
from shared.infrastructure.activitypub.fetch import Fetcher, guarded_client
from shared.infrastructure.context import current_platform
from shared.infrastructure.fragments import invalidate_after_commit
from shared.infrastructure.visitor import Visitor
from shared.models import (
    ApActivity,
    SocialAccount,
    SocialBlock,
    SocialFavourite,
    SocialNotification,
    SocialStatus,
)
from shared.services.social._common import NOTIFICATIONS_FRAGMENT, iso, now, reaches


class SocialBase:
    """The settings and the helpers that every section of
    :class:`~shared.services.social.service.SqlSocialService` uses."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def host(self) -> str:
        return members.member_urls(self.settings, "x").host

    @contextlib.asynccontextmanager
    async def _fetcher(self) -> AsyncIterator[Fetcher]:
        """Signed, SSRF-guarded fetches as the federation actor: through the app's client in a
        request, else through a client of their own (CLI, worker, tests)."""
        key = actor_urls(self.settings, "federation").key_id
        client = current_app.extensions.get("activitypub_client") if has_app_context() else None
        if client is not None:
            memory = knock.memory_for(current_platform().redis)
            yield Fetcher(self.settings, client, key_id=key, memory=memory)
            return
        async with guarded_client(self.settings) as own:
            yield Fetcher(self.settings, own, key_id=key)

    async def _publish_to(
        self,
        session: AsyncSession,
        me: SocialAccount,
        activity_type: str,
        obj: dict[str, Any] | str,
        account: SocialAccount,
        *,
        object_uri: str | None,
        uri: str | None = None,
    ) -> None:
        """One of the member's activities for one remote ``account`` alone, at its own inbox
        (a ``Follow``, an ``Accept``, a ``Block``, and their ``Undo``)."""
        await self._publish(
            session,
            me,
            activity_type,
            obj,
            object_uri=object_uri,
            is_public=False,
            to_followers=False,
            targets=[account.inbox_url] if account.inbox_url else [],
            to=[account.uri],
            cc=[],
            uri=uri,
        )

    async def _publish(
        self,
        session: AsyncSession,
        me: SocialAccount,
        activity_type: str,
        obj: dict[str, Any] | str,
        *,
        object_uri: str | None,
        is_public: bool,
        to_followers: bool,
        targets: Iterable[str],
        to: list[str],
        cc: list[str],
        uri: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Write one of the member's activities to the outbox (delivered after commit);
        ``extra`` adds fields of its type (a ``Move``'s ``target``)."""
        urls = members.member_urls(self.settings, me.username)
        payload: dict[str, Any] = {
            "@context": CONTEXT,
            "id": uri or urls.activity(uuid.uuid4().hex),
            "type": activity_type,
            "actor": me.uri,
            "published": iso(now()),
            "to": to,
            "cc": cc,
            "object": obj,
            **(extra or {}),
        }
        session.add(
            ApActivity(
                uri=payload["id"],
                actor_app="federation",
                actor_account_id=me.id,
                activity_type=activity_type,
                object_uri=object_uri,
                object_type=obj.get("type") if isinstance(obj, dict) else None,
                payload=payload,
                is_public=is_public,
                to_followers=to_followers,
                target_inboxes=sorted(set(targets)),
            )
        )
        await session.flush()

    async def _notify(
        self,
        session: AsyncSession,
        account_id: int,
        kind: str,
        from_account_id: int,
        status_id: int | None = None,
    ) -> None:
        local = await session.scalar(
            select(SocialAccount.user_id).where(SocialAccount.id == account_id)
        )
        if local is None:
            return
        ignored = await session.scalar(
            select(
                exists().where(
                    SocialBlock.account_id == account_id, SocialBlock.target_id == from_account_id
                )
            )
        )
        if ignored:
            return  # blocked or muted: nothing from them reaches the member
        if kind != "follow_request" and not await reaches(session, account_id, from_account_id):
            return  # a limited domain's account the member does not follow
        session.add(
            SocialNotification(
                account_id=account_id,
                kind=kind,
                from_account_id=from_account_id,
                status_id=status_id,
            )
        )
        await session.flush()
        if has_app_context():
            # The unread count in the member's header (outside a request, e.g. the CLI, the
            # count's short TTL catches up).
            invalidate_after_commit(session, NOTIFICATIONS_FRAGMENT, Visitor(user_id=local))

    async def _accounts(self, session: AsyncSession, ids: set[int]) -> dict[int, SocialAccountDTO]:
        if not ids:
            return {}
        rows = await session.scalars(select(SocialAccount).where(SocialAccount.id.in_(ids)))
        return {r.id: self._dto(r) for r in rows}

    def _acct(self, row: SocialAccount) -> str:
        return f"{row.username}@{row.domain or self.host}"

    def _dto(self, row: SocialAccount) -> SocialAccountDTO:
        return SocialAccountDTO(
            id=row.id,
            uri=row.uri,
            acct=self._acct(row),
            username=row.username,
            display_name=row.display_name,
            summary=row.summary,
            url=row.url,
            avatar_url=row.avatar_url,
            header_url=row.header_url,
            fields=tuple((str(f.get("name", "")), str(f.get("value", ""))) for f in row.fields),
            is_local=row.domain is None,
            locked=row.locked,
            hide_followers=row.hide_followers,
            discoverable=row.discoverable,
            suspended=row.suspended_at is not None,
        )

    async def _hydrate(
        self, session: AsyncSession, rows: Sequence[SocialStatus], viewer: int | None
    ) -> list[SocialStatusDTO]:
        """DTOs for ``rows`` in a fixed number of queries (no N+1 on timelines)."""
        if not rows:
            return []
        boosted_ids = {r.reblog_of_id for r in rows if r.reblog_of_id is not None}
        boosted = (
            {
                s.id: s
                for s in await session.scalars(
                    select(SocialStatus).where(
                        SocialStatus.id.in_(boosted_ids), SocialStatus.deleted_at.is_(None)
                    )
                )
            }
            if boosted_ids
            else {}
        )
        every = list(rows) + list(boosted.values())
        ids = {s.id for s in every}
        uris = {s.uri for s in every}
        accounts = await self._accounts(session, {s.account_id for s in every})
        fav_counts = dict(
            (
                await session.execute(
                    select(SocialFavourite.status_id, func.count())
                    .where(SocialFavourite.status_id.in_(ids))
                    .group_by(SocialFavourite.status_id)
                )
            ).all()
        )
        boost_counts = dict(
            (
                await session.execute(
                    select(SocialStatus.reblog_of_id, func.count())
                    .where(SocialStatus.reblog_of_id.in_(ids), SocialStatus.deleted_at.is_(None))
                    .group_by(SocialStatus.reblog_of_id)
                )
            ).all()
        )
        reply_counts = dict(
            (
                await session.execute(
                    select(SocialStatus.in_reply_to_uri, func.count())
                    .where(
                        SocialStatus.in_reply_to_uri.in_(uris), SocialStatus.deleted_at.is_(None)
                    )
                    .group_by(SocialStatus.in_reply_to_uri)
                )
            ).all()
        )
        mine_fav: set[int] = set()
        mine_boost: set[int] = set()
        if viewer is not None:
            mine_fav = set(
                await session.scalars(
                    select(SocialFavourite.status_id).where(
                        SocialFavourite.account_id == viewer, SocialFavourite.status_id.in_(ids)
                    )
                )
            )
            mine_boost = {
                i
                for i in await session.scalars(
                    select(SocialStatus.reblog_of_id).where(
                        SocialStatus.account_id == viewer,
                        SocialStatus.reblog_of_id.in_(ids),
                        SocialStatus.deleted_at.is_(None),
                    )
                )
                if i is not None
            }

        def one(s: SocialStatus, reblog: SocialStatusDTO | None) -> SocialStatusDTO:
            return SocialStatusDTO(
                id=s.id,
                uri=s.uri,
                url=s.url,
                account=accounts[s.account_id],
                object_type=s.object_type,
                name=s.name,
                content=s.content,
                spoiler_text=s.spoiler_text,
                sensitive=s.sensitive,
                visibility=s.visibility,
                in_reply_to_uri=s.in_reply_to_uri,
                published_at=s.published_at,
                edited_at=s.edited_at,
                attachments=tuple(
                    AttachmentDTO(
                        a["url"],
                        a.get("media_type", ""),
                        a.get("description", ""),
                        a.get("width"),
                        a.get("height"),
                        # Only what we stored ourselves is shown inline (s.is_local: a
                        # remote post cannot claim it).
                        s.is_local and a.get("local") is True,
                    )
                    for a in s.attachments
                ),
                tags=tuple(s.tags),
                reblog=reblog,
                favourites_count=int(fav_counts.get(s.id, 0)),
                reblogs_count=int(boost_counts.get(s.id, 0)),
                replies_count=int(reply_counts.get(s.uri, 0)),
                favourited=s.id in mine_fav,
                reblogged=s.id in mine_boost,
            )

        out: list[SocialStatusDTO] = []
        for s in rows:
            if s.reblog_of_id is not None:
                target = boosted.get(s.reblog_of_id)
                if target is None:
                    continue  # the boosted post was deleted
                out.append(one(s, one(target, None)))
            else:
                out.append(one(s, None))
        return out
