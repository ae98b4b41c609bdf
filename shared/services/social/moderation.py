"""Moderation: members block and mute accounts and report them; other servers' moderators
report our accounts (a received ``Flag``); admins resolve reports, forward a member's report
to the reported account's server, suspend accounts, and limit or block whole domains."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import nh3
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import (
    DomainBlockDTO,
    ReceivedDTO,
    RelationshipDTO,
    RemoteActorDTO,
    SocialAccountDTO,
    SocialReportDTO,
)
from shared.errors import DomainError, NotFound
from shared.infrastructure.activitypub import members
from shared.infrastructure.activitypub.actors import CONTEXT, actor_urls
from shared.infrastructure.activitypub.remote import id_of
from shared.models import (
    ApActivity,
    ApFollower,
    SocialAccount,
    SocialBlock,
    SocialDomainBlock,
    SocialFollow,
    SocialReport,
    SocialStatus,
)
from shared.models.social import BLOCK_KINDS, DOMAIN_SEVERITIES
from shared.services import audit
from shared.services.social._common import clean_text, domain_is_blocked, now, visible_status
from shared.services.social.remote_blocks import SocialRemoteBlocks

# As Mastodon: a received report's comment is cut at 5000 characters, its objects at 100.
FLAG_COMMENT_CHARS = 5000
FLAG_OBJECTS = 100


class SocialModeration(SocialRemoteBlocks):
    """Blocks, mutes, reports, suspensions and domain blocks."""

    async def block(
        self,
        session: AsyncSession,
        user_id: int,
        account_id: int,
        *,
        kind: str = "block",
        undo: bool = False,
    ) -> RelationshipDTO:
        """Block (no follows either way, nothing from them) or mute (nothing from them in
        timelines or notifications) an account, or undo it; a remote account's server hears of
        a block and of its end (``Block``, ``Undo``), never of a mute."""
        if kind not in BLOCK_KINDS:
            raise DomainError("social_bad_block", "Block or mute.")
        me = await self._local_row(session, user_id)
        target = await session.get(SocialAccount, account_id)
        if target is None:
            raise NotFound("social_no_account", "There is no such account.")
        if target.id == me.id:
            raise DomainError("social_block_self", "You cannot block or mute yourself.")
        before = (
            await session.execute(
                select(SocialBlock.kind, SocialBlock.uri).where(
                    SocialBlock.account_id == me.id, SocialBlock.target_id == target.id
                )
            )
        ).one_or_none()
        await session.execute(
            delete(SocialBlock).where(
                SocialBlock.account_id == me.id, SocialBlock.target_id == target.id
            )
        )
        after: SocialBlock | None = None
        if not undo:
            after = SocialBlock(account_id=me.id, target_id=target.id, kind=kind)
            session.add(after)
            if kind == "block":
                await self.unfollow(session, user_id, target.id)
                await session.execute(
                    delete(SocialFollow).where(
                        SocialFollow.follower_id == target.id, SocialFollow.target_id == me.id
                    )
                )
        await session.flush()
        await self._tell_blocked(
            session, me, target, (before.kind, before.uri) if before else None, after
        )
        return await self.relationship(session, user_id, account_id)

    async def report(
        self,
        session: AsyncSession,
        user_id: int,
        account_id: int,
        status_id: int | None,
        comment: str,
    ) -> None:
        """Report an account (and one of its posts the member can see) to the admins."""
        me = await self._local_row(session, user_id)
        target = await session.get(SocialAccount, account_id)
        if target is None or target.id == me.id:
            raise NotFound("social_no_account", "There is no such account.")
        if status_id is not None:
            status = await visible_status(session, status_id, me.id)
            if status.account_id != target.id:
                raise NotFound("social_no_status", "That post does not exist.")
        if len(comment) > 1000:
            raise DomainError("social_report_too_long", "At most 1000 characters.")
        session.add(
            SocialReport(
                reporter_id=me.id,
                target_account_id=target.id,
                status_id=status_id,
                comment=clean_text(comment, 1000).strip(),
            )
        )
        await session.flush()

    async def reports(self, session: AsyncSession, *, open_only: bool) -> list[SocialReportDTO]:
        """Reports for the admins, newest first: members' and other servers' alike."""
        query = select(SocialReport).order_by(SocialReport.id.desc()).limit(200)
        if open_only:
            query = query.where(SocialReport.resolved_at.is_(None))
        rows = list(await session.scalars(query))
        accounts = await self._accounts(
            session,
            {r.reporter_id for r in rows if r.reporter_id is not None}
            | {r.target_account_id for r in rows},
        )
        named = {i for r in rows for i in _status_ids(r)}
        status_rows = list(
            await session.scalars(select(SocialStatus).where(SocialStatus.id.in_(named)))
        )
        statuses = {s.id: s for s in await self._hydrate(session, status_rows, None)}
        out = []
        for r in rows:
            target = accounts[r.target_account_id]
            domain = None if target.is_local else target.acct.rsplit("@", 1)[-1]
            out.append(
                SocialReportDTO(
                    r.id,
                    accounts[r.reporter_id] if r.reporter_id is not None else None,
                    target,
                    tuple(statuses[i] for i in _status_ids(r) if i in statuses),
                    r.comment,
                    r.created_at,
                    r.resolved_at is not None,
                    origin=r.origin_domain,
                    forward_to=domain if r.reporter_id is not None else None,
                    forwarded=r.forwarded_at is not None,
                )
            )
        return out

    async def forward_report(
        self, session: AsyncSession, admin_user_id: int, report_id: int
    ) -> bool:
        """Send a member's report of a remote account to that account's server: a ``Flag``
        by the federation actor (as Mastodon sends it by its instance actor, so the member
        is not named) to the account's inbox (its server's shared inbox when known), through
        the outbox. False when it was forwarded before: nothing more is sent."""
        report = await session.scalar(
            select(SocialReport).where(SocialReport.id == report_id).with_for_update()
        )
        if report is None:
            raise NotFound("social_no_report", "There is no such report.")
        target = await session.get(SocialAccount, report.target_account_id)
        assert target is not None  # the report goes with its target
        inbox = target.shared_inbox_url or target.inbox_url
        if report.reporter_id is None or target.domain is None or inbox is None:
            raise DomainError(
                "social_report_not_forwardable",
                "Only a member's report of an account on another server can be forwarded.",
            )
        if report.forwarded_at is not None:
            return False
        uris = list(
            await session.scalars(
                select(SocialStatus.uri).where(
                    SocialStatus.id.in_(_status_ids(report)),
                    SocialStatus.account_id == target.id,
                )
            )
        )
        urls = actor_urls(self.settings, "federation")
        payload: dict[str, Any] = {
            "@context": CONTEXT,
            "id": urls.activity(uuid.uuid4().hex),
            "type": "Flag",
            "actor": urls.id,
            "content": report.comment,
            "object": [target.uri, *sorted(uris)],
        }
        session.add(
            ApActivity(
                uri=payload["id"],
                actor_app="federation",
                activity_type="Flag",
                object_uri=target.uri,
                payload=payload,
                is_public=False,
                to_followers=False,
                target_inboxes=[inbox],
            )
        )
        report.forwarded_at = now()
        report.forwarded_by = admin_user_id
        await session.flush()
        audit.record(
            session,
            "social.report_forwarded",
            object_type="social_report",
            object_id=report_id,
            actor_user_id=admin_user_id,
        )
        return True

    async def resolve_report(
        self, session: AsyncSession, admin_user_id: int, report_id: int
    ) -> None:
        result = await session.execute(
            update(SocialReport)
            .where(SocialReport.id == report_id, SocialReport.resolved_at.is_(None))
            .values(resolved_at=func.now(), resolved_by=admin_user_id)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound("social_no_report", "There is no such open report.")
        audit.record(
            session,
            "social.report_resolved",
            object_type="social_report",
            object_id=report_id,
            actor_user_id=admin_user_id,
        )

    async def suspend(
        self, session: AsyncSession, admin_user_id: int, account_id: int, *, undo: bool = False
    ) -> SocialAccountDTO:
        """Suspend an account (or lift it): its posts are hidden everywhere, a local actor
        disappears for other servers and a remote one is ignored at the inbox."""
        row = await session.get(SocialAccount, account_id)
        if row is None:
            raise NotFound("social_no_account", "There is no such account.")
        row.suspended_at = None if undo else now()
        await session.flush()
        audit.record(
            session,
            "social.account_unsuspended" if undo else "social.account_suspended",
            object_type="social_account",
            object_id=account_id,
            actor_user_id=admin_user_id,
        )
        return self._dto(row)

    async def domain_blocks(self, session: AsyncSession) -> list[DomainBlockDTO]:
        """The blocked and limited domains, by name."""
        rows = await session.scalars(select(SocialDomainBlock).order_by(SocialDomainBlock.domain))
        return [DomainBlockDTO(r.domain, r.severity, r.created_at) for r in rows]

    async def domain_blocked(self, session: AsyncSession, host: str) -> bool:
        """Whether ``host`` (or a domain it is under) is blocked (not merely limited)."""
        return await domain_is_blocked(session, host)

    async def block_domain(
        self,
        session: AsyncSession,
        admin_user_id: int,
        domain: str,
        *,
        severity: str = "block",
        undo: bool = False,
    ) -> None:
        """Block a whole domain (its activities are dropped at the inbox from now on, and its
        accounts — their follows, posts, likes — and its followers of our app actors removed),
        limit it (its accounts' posts and notifications reach only their followers, and their
        follows wait for approval), or lift either (``undo``)."""
        domain = domain.strip().lower()
        if not re.fullmatch(r"[a-z0-9.-]{1,253}(?::\d{1,5})?", domain) or "." not in domain + ":":
            raise DomainError("social_bad_domain", "Enter a domain like example.social.")
        if severity not in DOMAIN_SEVERITIES:
            raise DomainError("social_bad_severity", "Limit or block.")
        if undo:
            await session.execute(
                delete(SocialDomainBlock).where(SocialDomainBlock.domain == domain)
            )
        else:
            stmt = insert(SocialDomainBlock).values(
                domain=domain, severity=severity, created_by=admin_user_id
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[SocialDomainBlock.domain],
                    set_={"severity": stmt.excluded.severity},
                )
            )
        if not undo and severity == "block":
            under = or_(
                func.lower(SocialAccount.domain) == domain,
                func.lower(SocialAccount.domain).like(f"%.{domain}"),
            )
            await session.execute(
                delete(SocialAccount).where(SocialAccount.domain.is_not(None), under)
            )
            follower_host = func.lower(func.split_part(ApFollower.actor_uri, "/", 3))
            await session.execute(
                delete(ApFollower).where(
                    or_(follower_host == domain, follower_host.like(f"%.{domain}"))
                )
            )
        audit.record(
            session,
            "social.domain_unblocked"
            if undo
            else ("social.domain_blocked" if severity == "block" else "social.domain_limited"),
            object_type="domain",
            object_id=domain,
            actor_user_id=admin_user_id,
        )


async def receive_flag(
    session: AsyncSession, settings: Settings, activity: dict[str, Any], sender: RemoteActorDTO
) -> ReceivedDTO | None:
    """Another server's moderators report our accounts, as Mastodon does: a ``Flag`` whose
    object lists the accounts (ours are reported) and posts (those of a reported account go
    with its report; the rest are ignored), and whose content is the comment. One report per
    account named, from the sender's server; None when it names none of ours."""
    obj = activity.get("object")
    uris = [u for u in (id_of(item) for item in (obj if isinstance(obj, list) else [obj])) if u]
    uris = uris[:FLAG_OBJECTS]
    usernames = {n for u in uris if (n := members.username_of(settings, u)) is not None}
    if not usernames:
        return None
    targets = list(
        await session.scalars(
            select(SocialAccount)
            .where(
                SocialAccount.domain.is_(None), func.lower(SocialAccount.username).in_(usernames)
            )
            .order_by(SocialAccount.id)
        )
    )
    if not targets:
        return None
    posts: dict[int, list[int]] = {}
    for status_id, account_id in await session.execute(
        select(SocialStatus.id, SocialStatus.account_id)
        .where(SocialStatus.uri.in_(uris), SocialStatus.is_local)
        .order_by(SocialStatus.id)
    ):
        posts.setdefault(account_id, []).append(status_id)
    comment = _plain(activity.get("content"), FLAG_COMMENT_CHARS)
    for target in targets:
        session.add(
            SocialReport(
                origin_domain=members.host_of(sender.uri)[:255],
                origin_actor_uri=sender.uri[:500],
                target_account_id=target.id,
                status_ids=posts.get(target.id, []),
                comment=comment,
            )
        )
    await session.flush()
    return ReceivedDTO("reported", "Flag")


def _status_ids(report: SocialReport) -> list[int]:
    """The posts a report names: a member's one, or those a received Flag named."""
    ids = [report.status_id] if report.status_id is not None else []
    return ids + [i for i in report.status_ids if isinstance(i, int) and i not in ids]


def _plain(value: Any, limit: int) -> str:
    """A comment other servers send (plain text, or HTML from some) as plain text, cut."""
    text = clean_text(value, limit * 4)
    text = re.sub(r"(?i)<br\s*/?>|</p\s*>", "\n", text)
    return html.unescape(nh3.clean(text, tags=set())).strip()[:limit]
