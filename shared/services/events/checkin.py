"""Staff at the door: who is booked or ticketed for an occurrence, and checking them in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import AttendeeDTO, CheckInResult
from shared.errors import Conflict, NotFound
from shared.models import EventBooking, EventTicket, EventTicketType, User
from shared.services import audit
from shared.services.events.common import ACTIVE, now_utc, slot_for
from shared.services.events.core import EventServiceCore


class CheckIn(EventServiceCore):
    """Attendee lists and admitting a booking or ticket by its code, once."""

    async def attendees(
        self, session: AsyncSession, event_id: int, key: datetime
    ) -> list[AttendeeDTO]:
        """Everyone booked or ticketed for an occurrence (the waiting list too), in order."""
        bookings = await session.execute(
            select(EventBooking, User.display_name, User.username, User.email)
            .outerjoin(User, User.id == EventBooking.user_id)
            .where(
                EventBooking.event_id == event_id,
                EventBooking.occurrence_start == key,
                EventBooking.status.in_(ACTIVE),
            )
            .order_by(EventBooking.status, EventBooking.id)
        )
        tickets = await session.execute(
            select(EventTicket, EventTicketType.name)
            .join(EventTicketType, EventTicketType.id == EventTicket.ticket_type_id)
            .where(EventTicket.event_id == event_id, EventTicket.occurrence_start == key)
            .order_by(EventTicket.id)
        )
        found = [
            AttendeeDTO(
                kind="booking",
                name=b.guest_name if b.user_id is None else (display or username),
                email=(b.guest_email or "") if b.user_id is None else email,
                quantity=b.quantity,
                status=b.status,
                code=b.code,
                checked_in_at=b.checked_in_at,
            )
            for b, display, username, email in bookings
        ]
        found += [
            AttendeeDTO(
                kind="ticket",
                name=t.holder_name,
                email=t.holder_email,
                quantity=1,
                status=t.status,
                code=t.code,
                checked_in_at=t.checked_in_at,
                ticket_type=type_name,
            )
            for t, type_name in tickets
        ]
        return found

    async def check_in(
        self,
        session: AsyncSession,
        code: str,
        *,
        actor_user_id: int | None = None,
        now: datetime | None = None,
    ) -> CheckInResult:
        """Admit the booking or ticket with this code, once: the conditional UPDATE lets
        exactly one of two simultaneous scans through; a later scan says when it was used."""
        now = now or now_utc()
        code = code.strip()
        if not code or len(code) > 64:
            raise NotFound("code_not_found", "No booking or ticket has this code.")
        for model, kind, valid in (
            (EventBooking, "booking", "confirmed"),
            (EventTicket, "ticket", "issued"),
        ):
            row: Any = await session.scalar(select(model).where(model.code == code))
            if row is None:
                continue
            if row.status != valid:
                raise Conflict("code_not_valid", f"This {kind} is {row.status}.")
            admitted = await session.scalar(
                update(model)
                .where(model.id == row.id, model.checked_in_at.is_(None))
                .values(checked_in_at=now)
                .returning(model.checked_in_at)
            )
            await session.refresh(row)
            event = await self.get_event(session, row.event_id)
            assert event is not None
            changes = await self._changes(session, {(event.id, row.occurrence_start)})
            slot = slot_for(
                event, row.occurrence_start, changes.get((event.id, row.occurrence_start))
            )
            if kind == "booking" and row.user_id is None:
                holder = row.guest_name
            elif kind == "booking":
                user = await session.get(User, row.user_id)
                holder = (user.display_name or user.username) if user else ""
            else:
                holder = row.holder_name or row.holder_email
            if admitted is not None:
                audit.record(
                    session,
                    f"{kind}.checked_in",
                    object_type=f"event_{kind}",
                    object_id=row.id,
                    actor_user_id=actor_user_id,
                    after={"checked_in_at": now.isoformat()},
                )
            return CheckInResult(
                ok=admitted is not None,
                kind=kind,
                code=code,
                title=event.title,
                start=slot.start,
                holder=holder,
                quantity=getattr(row, "quantity", 1),
                checked_in_at=row.checked_in_at,
            )
        raise NotFound("code_not_found", "No booking or ticket has this code.")
