"""A member's notifications: listed, counted while unread, and marked read."""

from __future__ import annotations

from quart import has_app_context
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import NotificationPageDTO, SocialNotificationDTO
from shared.infrastructure.fragments import invalidate_after_commit
from shared.infrastructure.visitor import Visitor
from shared.models import SocialAccount, SocialNotification, SocialStatus
from shared.services.social._common import NOTIFICATIONS_FRAGMENT
from shared.services.social.accounts import SocialAccounts


class SocialNotifications(SocialAccounts):
    """Notifications."""

    async def notifications(
        self, session: AsyncSession, user_id: int, *, max_id: int | None, limit: int
    ) -> NotificationPageDTO:
        me = await self._local_row(session, user_id)
        query = select(SocialNotification).where(SocialNotification.account_id == me.id)
        if max_id is not None:
            query = query.where(SocialNotification.id < max_id)
        rows = list(
            await session.scalars(query.order_by(SocialNotification.id.desc()).limit(limit + 1))
        )
        more = len(rows) > limit
        rows = rows[:limit]
        accounts = await self._accounts(session, {r.from_account_id for r in rows})
        status_rows = list(
            await session.scalars(
                select(SocialStatus).where(
                    SocialStatus.id.in_({r.status_id for r in rows if r.status_id}),
                    SocialStatus.deleted_at.is_(None),
                )
            )
        )
        statuses = {s.id: s for s in await self._hydrate(session, status_rows, me.id)}
        items = tuple(
            SocialNotificationDTO(
                r.id,
                r.kind,
                accounts[r.from_account_id],
                statuses.get(r.status_id) if r.status_id else None,
                r.created_at,
                r.read_at is None,
            )
            for r in rows
        )
        return NotificationPageDTO(items, rows[-1].id if more and rows else None)

    async def unread_count(self, session: AsyncSession, user_id: int) -> int:
        account_id = await session.scalar(
            select(SocialAccount.id).where(SocialAccount.user_id == user_id)
        )
        if account_id is None:
            return 0
        return int(
            await session.scalar(
                select(func.count())
                .select_from(SocialNotification)
                .where(
                    SocialNotification.account_id == account_id,
                    SocialNotification.read_at.is_(None),
                )
            )
            or 0
        )

    async def mark_notifications_read(self, session: AsyncSession, user_id: int) -> int:
        me = await self._local_row(session, user_id)
        result = await session.execute(
            update(SocialNotification)
            .where(SocialNotification.account_id == me.id, SocialNotification.read_at.is_(None))
            .values(read_at=func.now())
        )
        if has_app_context():
            invalidate_after_commit(session, NOTIFICATIONS_FRAGMENT, Visitor(user_id=user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]
