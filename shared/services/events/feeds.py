"""iCalendar feeds: every public event, one calendar's, one event, or a member's own
(behind a private token)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import OccurrenceException
from shared.models import (
    Event,
    EventBooking,
    EventCalendar,
    EventException,
    EventFeedToken,
    EventTicket,
)
from shared.services.events.calendars import Calendars
from shared.services.events.common import PUBLIC_STATUSES, now_utc, row_dto
from shared.services.events.ical import build_calendar


class Feeds(Calendars):
    """The RFC 5545 feeds and the members' private feed tokens."""

    async def feed_token(self, session: AsyncSession, user_id: int) -> str:
        """The member's private feed token, made on first use."""
        token = await session.scalar(
            select(EventFeedToken.token).where(EventFeedToken.user_id == user_id)
        )
        if token is None:
            token = secrets.token_urlsafe(24)
            session.add(EventFeedToken(user_id=user_id, token=token))
            await session.flush()
        return token

    async def ical(
        self,
        session: AsyncSession,
        *,
        calendar_slug: str | None = None,
        event_slug: str | None = None,
        feed_token: str | None = None,
        now: datetime | None = None,
    ) -> str | None:
        """An RFC 5545 calendar: every public event (of one calendar), one event, or the events
        a member (by feed token) has booked. None when the calendar, event or token is unknown.
        Events that ended more than 90 days ago are left out of the feeds."""
        now = now or now_utc()
        query = self._event_query().where(Event.status.in_(PUBLIC_STATUSES))
        name = "Events"
        if event_slug is not None:
            query = query.where(Event.slug == event_slug)
        else:
            query = query.where(
                or_(
                    Event.recur_until.is_(None),
                    Event.recur_until + (Event.end_at - Event.start_at) > now - timedelta(days=90),
                )
            )
        if calendar_slug is not None:
            calendar = await self.calendar_by_slug(session, calendar_slug)
            if calendar is None:
                return None
            query = query.where(EventCalendar.slug == calendar_slug)
            name = calendar.name
        if feed_token is not None:
            user_id = await session.scalar(
                select(EventFeedToken.user_id).where(EventFeedToken.token == feed_token)
            )
            if user_id is None:
                return None
            booked = select(EventBooking.event_id).where(
                EventBooking.user_id == user_id, EventBooking.status == "confirmed"
            )
            ticketed = select(EventTicket.event_id).where(
                EventTicket.user_id == user_id, EventTicket.status == "issued"
            )
            query = query.where(or_(Event.id.in_(booked), Event.id.in_(ticketed)))
            name = "My events"
        events = [row_dto(row) for row in await session.execute(query.order_by(Event.id))]
        if event_slug is not None and not events:
            return None
        if event_slug is not None:
            name = events[0].title
        exceptions: dict[int, list[OccurrenceException]] = {}
        recurring = [e.id for e in events if e.recurring]
        if recurring:
            for row in await session.scalars(
                select(EventException)
                .where(EventException.event_id.in_(recurring))
                .order_by(EventException.occurrence_start)
            ):
                exceptions.setdefault(row.event_id, []).append(
                    OccurrenceException(
                        row.occurrence_start, row.cancelled, row.new_start, row.new_end
                    )
                )
        return build_calendar(name, events, exceptions, self.public_url)
