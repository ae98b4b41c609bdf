"""Listing occurrences: every public occurrence in a window, the next ones and the archive
(recurring events expanded in the window only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import EventDTO, OccurrenceDTO
from shared.models import Event, EventCalendar, EventException
from shared.services.events import recurrence as rec
from shared.services.events.common import PUBLIC_STATUSES, now_utc, occurrence_dto, row_dto
from shared.services.events.core import EventServiceCore

# How far ahead "upcoming" looks, and how far back the archive goes.
UPCOMING_HORIZON = timedelta(days=366)
PAST_HORIZON = timedelta(days=366 * 2)


class Listings(EventServiceCore):
    """The occurrences of public events, in order."""

    async def _candidates(
        self,
        session: AsyncSession,
        window_start: datetime,
        window_end: datetime,
        *,
        calendar_slug: str | None = None,
        tag: str | None = None,
        event_id: int | None = None,
        statuses: Sequence[str] = PUBLIC_STATUSES,
    ) -> list[tuple[EventDTO, dict[datetime, rec.Moved]]]:
        """Events that may have an occurrence in the window, with their exceptions: two
        queries whatever the number of events."""
        query = self._event_query().where(
            Event.status.in_(statuses),
            Event.start_at < window_end,
            or_(
                Event.recur_until.is_(None),
                Event.recur_until + (Event.end_at - Event.start_at) > window_start,
                # A moved occurrence may land in the window from outside the rule's span.
                Event.id.in_(
                    select(EventException.event_id).where(
                        EventException.new_start < window_end,
                        EventException.new_end > window_start,
                    )
                ),
            ),
        )
        if calendar_slug is not None:
            query = query.where(EventCalendar.slug == calendar_slug)
        if tag is not None:
            query = query.where(Event.tags.contains([tag]))
        if event_id is not None:
            query = query.where(Event.id == event_id)
        events = [row_dto(row) for row in await session.execute(query)]
        recurring = [e.id for e in events if e.recurring]
        changes: dict[int, dict[datetime, rec.Moved]] = {}
        if recurring:
            for row in await session.scalars(
                select(EventException).where(EventException.event_id.in_(recurring))
            ):
                changes.setdefault(row.event_id, {})[row.occurrence_start] = rec.Moved(
                    None if row.cancelled else row.new_start,
                    None if row.cancelled else row.new_end,
                )
        return [(e, changes.get(e.id, {})) for e in events]

    async def occurrences(
        self,
        session: AsyncSession,
        window_start: datetime,
        window_end: datetime,
        *,
        calendar_slug: str | None = None,
        tag: str | None = None,
        event_id: int | None = None,
    ) -> list[OccurrenceDTO]:
        """Every public occurrence overlapping ``[window_start, window_end)`` (UTC), in order;
        recurring events are expanded in the window only."""
        found: list[OccurrenceDTO] = []
        for event, changes in await self._candidates(
            session,
            window_start,
            window_end,
            calendar_slug=calendar_slug,
            tag=tag,
            event_id=event_id,
        ):
            for slot in rec.expand(
                start=event.start,
                end=event.end,
                timezone=event.timezone,
                rule=event.rrule,
                window_start=window_start,
                window_end=window_end,
                exceptions=changes,
            ):
                found.append(occurrence_dto(event, slot))
        found.sort(key=lambda o: (o.start, o.event.title, o.event.id))
        return found

    async def upcoming(
        self,
        session: AsyncSession,
        *,
        now: datetime | None = None,
        limit: int = 10,
        calendar_slug: str | None = None,
        tag: str | None = None,
    ) -> list[OccurrenceDTO]:
        """The next ``limit`` occurrences that have not ended, over the coming year."""
        now = now or now_utc()
        found = await self.occurrences(
            session, now, now + UPCOMING_HORIZON, calendar_slug=calendar_slug, tag=tag
        )
        return found[:limit]

    async def past(
        self,
        session: AsyncSession,
        *,
        now: datetime | None = None,
        limit: int = 50,
        calendar_slug: str | None = None,
        tag: str | None = None,
    ) -> list[OccurrenceDTO]:
        """The most recent ``limit`` occurrences that have ended (the archive), latest first."""
        now = now or now_utc()
        found = await self.occurrences(
            session, now - PAST_HORIZON, now, calendar_slug=calendar_slug, tag=tag
        )
        return [o for o in reversed(found) if o.end <= now][:limit]
