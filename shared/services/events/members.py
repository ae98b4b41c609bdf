"""What a member has here, and what other domains ask of the events domain
(``shared/contracts/common.py``): a member's upcoming bookings and tickets
(``MemberTickets``), the next public events (``UpcomingEvents``) and a member's personal data,
exported or erased (``PersonalData``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    EventDTO,
    EventSummaryDTO,
    MemberEntryDTO,
    MemberTicketDTO,
    PersonalDataDTO,
)
from shared.infrastructure.locking import lock_objects
from shared.models import Event, EventBooking, EventFeedToken, EventTicket, EventTicketType, User
from shared.services import audit
from shared.services.events import recurrence as rec
from shared.services.events.bookings import Bookings
from shared.services.events.common import (
    capacity_lock_key,
    event_dto,
    now_utc,
    qr_data_uri,
    slot_for,
    zoned,
)
from shared.services.events.listings import Listings


class Members(Bookings, Listings):
    """A member's upcoming entries, the public digest and personal data."""

    async def member_upcoming(
        self,
        session: AsyncSession,
        user_id: int,
        *,
        now: datetime | None = None,
        past: bool = False,
        limit: int | None = None,
    ) -> list[MemberEntryDTO]:
        """A member's bookings (confirmed or waiting) and tickets of occurrences that have not
        ended, soonest first: what their dashboard lists, each with its QR code and .ics.

        With ``past``, those of occurrences that have ended instead (confirmed bookings and
        issued tickets), latest first, without QR codes: at most ``limit`` of each kind."""
        now = now or now_utc()
        lookback = now - timedelta(days=61)  # no event lasts longer than 60 days
        booking_when = (
            EventBooking.occurrence_start <= now
            if past
            else EventBooking.occurrence_start > lookback
        )
        ticket_when = (
            EventTicket.occurrence_start <= now if past else EventTicket.occurrence_start > lookback
        )
        booking_query = (
            self._event_query()
            .add_columns(EventBooking)
            .join(EventBooking, EventBooking.event_id == Event.id)
            .where(
                EventBooking.user_id == user_id,
                EventBooking.status.in_(("confirmed",) if past else ("confirmed", "waiting")),
                booking_when,
            )
            .order_by(EventBooking.occurrence_start.desc(), EventBooking.id.desc())
        )
        ticket_query = (
            self._event_query()
            .add_columns(EventTicket, EventTicketType.name)
            .join(EventTicket, EventTicket.event_id == Event.id)
            .join(EventTicketType, EventTicketType.id == EventTicket.ticket_type_id)
            .where(
                EventTicket.user_id == user_id,
                EventTicket.status == "issued",
                ticket_when,
            )
            .order_by(EventTicket.occurrence_start.desc(), EventTicket.id.desc())
        )
        if limit is not None:
            # A few more than asked: an occurrence still running is not past yet.
            booking_query = booking_query.limit(limit + 20)
            ticket_query = ticket_query.limit(limit + 20)
        bookings = await session.execute(booking_query)
        tickets = await session.execute(ticket_query)
        rows: list[tuple[EventDTO, datetime, MemberEntryDTO]] = []
        entries: list[tuple[EventDTO, datetime, dict[str, Any]]] = []
        for event_row, calendar, booking in bookings:
            event = event_dto(event_row, calendar)
            entries.append(
                (
                    event,
                    booking.occurrence_start,
                    {
                        "kind": "booking",
                        "id": booking.id,
                        "quantity": booking.quantity,
                        "status": booking.status,
                        "code": booking.code if booking.status == "confirmed" else None,
                    },
                )
            )
        for event_row, calendar, ticket, type_name in tickets:
            event = event_dto(event_row, calendar)
            entries.append(
                (
                    event,
                    ticket.occurrence_start,
                    {
                        "kind": "ticket",
                        "id": ticket.id,
                        "quantity": 1,
                        "status": ticket.status,
                        "code": ticket.code,
                        "ticket_type": type_name,
                    },
                )
            )
        changes = await self._changes(session, {(e.id, key) for e, key, _ in entries})
        for event, key, fields in entries:
            change = changes.get((event.id, key))
            if change is not None and change.new_start is None:
                continue  # that occurrence was cancelled
            slot = slot_for(event, key, change)
            if (slot.end > now) if past else (slot.end <= now):
                continue
            code = None if past else fields.pop("code")
            fields.pop("code", None)
            entry = MemberEntryDTO(
                title=event.title,
                event_url=f"{self.public_url}/events/{event.slug}?at={slot.key:%Y%m%dT%H%M%SZ}",
                ics_url=f"{self.public_url}/events/{event.slug}/event.ics",
                start=slot.start,
                end=slot.end,
                timezone=event.timezone,
                local_start=rec.to_local(slot.start, ZoneInfo(event.timezone)),
                location_name=event.location_name,
                code=code,
                qr_svg_data_uri=qr_data_uri(code) if code else None,
                **fields,
            )
            rows.append((event, slot.start, entry))
        rows.sort(key=lambda r: (r[1], r[2].kind, r[2].id), reverse=past)
        return [entry for _, _, entry in rows]

    async def upcoming_for_member(
        self, session: AsyncSession, user_id: int, *, limit: int = 10
    ) -> tuple[MemberTicketDTO, ...]:
        """The member's tickets and bookings for events still to come, soonest first (the
        account dashboard's ``MemberTickets``): each with its QR code and .ics link."""
        return self._member_tickets(await self.member_upcoming(session, user_id), limit)

    async def past_for_member(
        self, session: AsyncSession, user_id: int, *, limit: int = 50
    ) -> tuple[MemberTicketDTO, ...]:
        """The member's tickets and bookings for events that have ended, latest first (the
        account's "Past" pages): no QR codes, nothing more to scan."""
        entries = await self.member_upcoming(session, user_id, past=True, limit=limit)
        return self._member_tickets(entries, limit)

    @staticmethod
    def _member_tickets(entries: list[MemberEntryDTO], limit: int) -> tuple[MemberTicketDTO, ...]:
        return tuple(
            MemberTicketDTO(
                id=e.id,
                kind=e.kind,
                event_title=e.title if e.ticket_type is None else f"{e.title} — {e.ticket_type}",
                starts_at=e.start.astimezone(ZoneInfo(e.timezone)),
                url=e.event_url,
                qr_url=e.qr_svg_data_uri,
                ics_url=e.ics_url,
            )
            for e in entries[:limit]
        )

    async def upcoming_public(
        self, session: AsyncSession, *, limit: int = 5
    ) -> tuple[EventSummaryDTO, ...]:
        """The next public occurrences, soonest first, cancelled events left out (newsletter
        digests' ``UpcomingEvents``)."""
        found = await self.upcoming(session, limit=limit * 3 + 10)
        return tuple(
            EventSummaryDTO(
                title=o.event.title,
                starts_at=zoned(o),
                url=self._occurrence_url(o.event, o.occurrence_start),
                summary=_plain(o.event.description_html),
            )
            for o in found
            if o.event.status == "published"
        )[:limit]

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The member's bookings (and guest bookings made with their address), tickets and
        whether they have a private feed (``PersonalData``)."""
        email = await session.scalar(select(func.lower(User.email)).where(User.id == user_id))
        mine = [EventBooking.user_id == user_id]
        if email:
            mine.append(EventBooking.guest_email == email)
        bookings = await session.execute(
            select(EventBooking, Event.title)
            .join(Event, Event.id == EventBooking.event_id)
            .where(or_(*mine))
            .order_by(EventBooking.id)
        )
        tickets = await session.execute(
            select(EventTicket, Event.title, EventTicketType.name)
            .join(Event, Event.id == EventTicket.event_id)
            .join(EventTicketType, EventTicketType.id == EventTicket.ticket_type_id)
            .where(
                or_(
                    EventTicket.user_id == user_id,
                    func.lower(EventTicket.holder_email) == (email or "-"),
                )
            )
            .order_by(EventTicket.id)
        )
        feed = await session.scalar(
            select(EventFeedToken.user_id).where(EventFeedToken.user_id == user_id)
        )

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return PersonalDataDTO(
            domain="events",
            data={
                "bookings": [
                    {
                        "id": b.id,
                        "event": title,
                        "occurrence_start": iso(b.occurrence_start),
                        "quantity": b.quantity,
                        "status": b.status,
                        "code": b.code,
                        "as_guest": b.user_id is None,
                        "guest_name": b.guest_name or None,
                        "checked_in_at": iso(b.checked_in_at),
                        "created_at": iso(b.created_at),
                    }
                    for b, title in bookings
                ],
                "tickets": [
                    {
                        "id": t.id,
                        "event": title,
                        "ticket_type": type_name,
                        "occurrence_start": iso(t.occurrence_start),
                        "status": t.status,
                        "code": t.code,
                        "holder_name": t.holder_name,
                        "holder_email": t.holder_email,
                        "order_id": t.order_id,
                        "checked_in_at": iso(t.checked_in_at),
                        "created_at": iso(t.created_at),
                    }
                    for t, title, type_name in tickets
                ],
                "private_feed": feed is not None,
            },
        )

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Remove the member's bookings and the guest bookings made with their address
        (places they held go to the waiting list first), anonymise their tickets (they
        belong to paid orders: kept, without name or address) and drop their private feed."""
        email = email.strip().lower()
        mine = [EventBooking.user_id == user_id]
        if email:
            mine.append(EventBooking.guest_email == email)
        rows = list(await session.scalars(select(EventBooking).where(or_(*mine))))
        held = sorted({r.event_id for r in rows if r.status == "confirmed"})
        if held:
            await lock_objects(session, [capacity_lock_key(i) for i in held])
        freed = {(r.event_id, r.occurrence_start) for r in rows if r.status == "confirmed"}
        for row in rows:
            await session.delete(row)
        await session.flush()
        for event_id, key in sorted(freed):
            await self._offer_freed_places(session, event_id, key)
        await session.execute(
            update(EventTicket)
            .where(
                or_(
                    EventTicket.user_id == user_id,
                    func.lower(EventTicket.holder_email) == (email or "-"),
                )
            )
            .values(user_id=None, holder_name="", holder_email="")
        )
        feed = await session.get(EventFeedToken, user_id)
        if feed is not None:
            await session.delete(feed)
        audit.record(
            session,
            "events.member_erased",
            object_type="user",
            object_id=user_id,
            after={"bookings_removed": len(rows)},
        )


def _plain(html: str, limit: int = 240) -> str:
    """A description's text without markup, shortened at a word."""
    text = " ".join(unescape(re.sub(r"<[^>]*>", " ", html)).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
