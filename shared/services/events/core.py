"""The base of :class:`~shared.services.events.service.SqlEventService`: its settings, the
reads every part builds on (an event, one occurrence, the places taken) and the emails sent
after the commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import EventDTO, FederationService, OccurrenceDTO
from shared.db import after_commit
from shared.models import Event, EventBooking, EventCalendar, EventException, EventTicketType
from shared.services.events import mail as event_mail
from shared.services.events import recurrence as rec
from shared.services.events.common import occurrence_dto, row_dto, slot_for


class EventServiceCore:
    """Settings and the reads the parts of the events service share."""

    def __init__(
        self,
        public_url: str = "",
        federation: FederationService | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        # The events app's address as others see it: links in DTOs, feeds and the cart.
        self.public_url = public_url.rstrip("/")
        # Published events are announced by the events actor, in the same transaction.
        self.federation = federation
        # Emails (tickets, guests' links, the waiting list) go out with these settings once
        # the transaction commits; without settings nothing is emailed.
        self.settings = settings

    def _email_after_commit(self, session: AsyncSession, msg: Any) -> None:
        if self.settings is None:
            return
        settings = self.settings

        async def deliver() -> None:
            await event_mail.send(settings, msg)

        after_commit(session, deliver)

    def _event_query(self) -> Select[Event, EventCalendar]:
        return select(Event, EventCalendar).join(
            EventCalendar, EventCalendar.id == Event.calendar_id
        )

    async def get_event(self, session: AsyncSession, event_id: int) -> EventDTO | None:
        """The event with this id, whatever its status (for staff), or None."""
        row = (await session.execute(self._event_query().where(Event.id == event_id))).first()
        return row_dto(row) if row is not None else None

    async def occurrence(
        self, session: AsyncSession, event: EventDTO, key: datetime
    ) -> OccurrenceDTO | None:
        """The occurrence of ``event`` named ``key`` (None when the rule has no such date or
        it was cancelled)."""
        if not rec.is_occurrence(
            start=event.start, end=event.end, timezone=event.timezone, rule=event.rrule, key=key
        ):
            return None
        row = await session.scalar(
            select(EventException).where(
                EventException.event_id == event.id, EventException.occurrence_start == key
            )
        )
        if row is not None and row.cancelled:
            return None
        change = rec.Moved(row.new_start, row.new_end) if row is not None else None
        return occurrence_dto(event, slot_for(event, key, change))

    async def _taken(self, session: AsyncSession, event_id: int, key: datetime) -> int:
        booked = await session.scalar(
            select(func.coalesce(func.sum(EventBooking.quantity), 0)).where(
                EventBooking.event_id == event_id,
                EventBooking.occurrence_start == key,
                EventBooking.status == "confirmed",
            )
        )
        tickets = await session.scalar(
            select(func.coalesce(func.sum(EventTicketType.taken), 0)).where(
                EventTicketType.event_id == event_id, EventTicketType.occurrence_start == key
            )
        )
        return int(booked or 0) + int(tickets or 0)

    async def _changes(
        self, session: AsyncSession, keys: set[tuple[int, datetime]]
    ) -> dict[tuple[int, datetime], rec.Moved]:
        if not keys:
            return {}
        rows = await session.scalars(
            select(EventException).where(
                EventException.event_id.in_({event_id for event_id, _ in keys})
            )
        )
        return {
            (r.event_id, r.occurrence_start): rec.Moved(
                None if r.cancelled else r.new_start, None if r.cancelled else r.new_end
            )
            for r in rows
            if (r.event_id, r.occurrence_start) in keys
        }

    def _occurrence_url(self, event: EventDTO, key: datetime) -> str:
        return f"{self.public_url}/events/{event.slug}?at={key:%Y%m%dT%H%M%SZ}"

    def _ics_url(self, event: EventDTO) -> str:
        return f"{self.public_url}/events/{event.slug}/event.ics"
