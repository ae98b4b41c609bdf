"""Moderation: members block and mute accounts and report them; admins resolve reports,
suspend accounts and block whole domains."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import RelationshipDTO, SocialAccountDTO, SocialReportDTO
from shared.errors import DomainError, NotFound
from shared.models import (
    ApFollower,
    SocialAccount,
    SocialBlock,
    SocialDomainBlock,
    SocialFollow,
    SocialReport,
    SocialStatus,
)
from shared.models.social import BLOCK_KINDS
from shared.services import audit
from shared.services.social._common import clean_text, domain_is_blocked, now, visible_status
from shared.services.social.remote_blocks import SocialRemoteBlocks


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
        """Reports for the admins, newest first."""
        query = select(SocialReport).order_by(SocialReport.id.desc()).limit(200)
        if open_only:
            query = query.where(SocialReport.resolved_at.is_(None))
        rows = list(await session.scalars(query))
        accounts = await self._accounts(
            session, {r.reporter_id for r in rows} | {r.target_account_id for r in rows}
        )
        status_rows = list(
            await session.scalars(
                select(SocialStatus).where(
                    SocialStatus.id.in_({r.status_id for r in rows if r.status_id})
                )
            )
        )
        statuses = {s.id: s for s in await self._hydrate(session, status_rows, None)}
        return [
            SocialReportDTO(
                r.id,
                accounts[r.reporter_id],
                accounts[r.target_account_id],
                statuses.get(r.status_id) if r.status_id else None,
                r.comment,
                r.created_at,
                r.resolved_at is not None,
            )
            for r in rows
        ]

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

    async def domain_blocks(self, session: AsyncSession) -> list[str]:
        return list(
            await session.scalars(
                select(SocialDomainBlock.domain).order_by(SocialDomainBlock.domain)
            )
        )

    async def domain_blocked(self, session: AsyncSession, host: str) -> bool:
        """Whether ``host`` (or a domain it is under) is blocked."""
        return await domain_is_blocked(session, host)

    async def block_domain(
        self, session: AsyncSession, admin_user_id: int, domain: str, *, undo: bool = False
    ) -> None:
        """Block a whole domain: its activities are dropped at the inbox from now on, and its
        accounts (their follows, posts, likes) and its followers of our app actors removed."""
        domain = domain.strip().lower()
        if not re.fullmatch(r"[a-z0-9.-]{1,253}(?::\d{1,5})?", domain) or "." not in domain + ":":
            raise DomainError("social_bad_domain", "Enter a domain like example.social.")
        if undo:
            await session.execute(
                delete(SocialDomainBlock).where(SocialDomainBlock.domain == domain)
            )
        else:
            await session.execute(
                insert(SocialDomainBlock)
                .values(domain=domain, created_by=admin_user_id)
                .on_conflict_do_nothing()
            )
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
            "social.domain_unblocked" if undo else "social.domain_blocked",
            object_type="domain",
            object_id=domain,
            actor_user_id=admin_user_id,
        )
