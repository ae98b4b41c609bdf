"""Members' free bookings and the waiting list.

Booking takes the occurrence's capacity lock, then counts and writes in the same transaction;
places freed by a cancellation go to the waiting list in the order it was joined, and each
booking confirmed from it is emailed after the commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import AvailabilityDTO, BookingDTO, EventDTO
from shared.contracts.errors import InvalidEvent
from shared.errors import DomainError, NotFound
from shared.infrastructure.locking import lock_objects, require_locked
from shared.models import Event, EventBooking, User
from shared.services import audit
from shared.services.events import mail as event_mail
from shared.services.events.common import (
    ACTIVE,
    booking_dto,
    capacity_lock_key,
    new_code,
    now_utc,
    zoned,
)
from shared.services.events.core import EventServiceCore


class Bookings(EventServiceCore):
    """Free places for members, the per-person limit and the waiting list."""

    async def availability(
        self, session: AsyncSession, event: EventDTO, key: datetime
    ) -> AvailabilityDTO:
        """How many places an occurrence has, how many are taken and how many wait."""
        waiting = await session.scalar(
            select(func.coalesce(func.sum(EventBooking.quantity), 0)).where(
                EventBooking.event_id == event.id,
                EventBooking.occurrence_start == key,
                EventBooking.status == "waiting",
            )
        )
        return AvailabilityDTO(
            capacity=event.capacity,
            taken=await self._taken(session, event.id, key),
            waiting=int(waiting or 0),
        )

    async def _bookable(
        self, session: AsyncSession, event_id: int, key: datetime, quantity: int, now: datetime
    ) -> EventDTO:
        """The published event whose occurrence ``key`` is still to start, for ``quantity``
        places within the per-person limit; refused with a code otherwise."""
        event = await self.get_event(session, event_id)
        if event is None or event.status != "published":
            raise NotFound("event_not_found", "No such event.")
        occurrence = await self.occurrence(session, event, key)
        if occurrence is None:
            raise NotFound("occurrence_not_found", "The event does not happen then.")
        if occurrence.start <= now:
            raise DomainError("booking_closed", "This event has already started.")
        if not 1 <= quantity <= event.per_person_limit:
            raise InvalidEvent(
                "booking_limit", f"You can book 1 to {event.per_person_limit} places.", "quantity"
            )
        return event

    async def _place_status(
        self,
        session: AsyncSession,
        event: EventDTO,
        key: datetime,
        quantity: int,
        *,
        user_id: int | None = None,
        email: str | None = None,
    ) -> str:
        """With the capacity lock held: refuse places beyond the per-person limit (one person
        is a member, their account's address, or a guest's address) and say whether the new
        places are confirmed or wait behind the waiting list."""
        require_locked(session, [capacity_lock_key(event.id)])
        active = (
            EventBooking.event_id == event.id,
            EventBooking.occurrence_start == key,
            EventBooking.status.in_(ACTIVE),
        )
        who: list[Any] = []
        if user_id is not None:
            who.append(EventBooking.user_id == user_id)
            who.append(
                EventBooking.guest_email
                == select(func.lower(User.email)).where(User.id == user_id).scalar_subquery()
            )
        if email is not None:
            who.append(EventBooking.guest_email == email)
            who.append(
                EventBooking.user_id.in_(select(User.id).where(func.lower(User.email) == email))
            )
        mine = await session.scalar(
            select(func.coalesce(func.sum(EventBooking.quantity), 0)).where(*active, or_(*who))
        )
        if int(mine or 0) + quantity > event.per_person_limit:
            raise InvalidEvent(
                "booking_limit",
                f"Each person can book at most {event.per_person_limit} places for this event.",
                "quantity",
            )
        if event.capacity is None:
            return "confirmed"
        queue = await session.scalar(
            select(func.count()).where(*active, EventBooking.status == "waiting")
        )
        taken = await self._taken(session, event.id, key)
        return "waiting" if queue or taken + quantity > event.capacity else "confirmed"

    async def book(
        self,
        session: AsyncSession,
        user_id: int,
        event_id: int,
        key: datetime,
        quantity: int = 1,
        *,
        now: datetime | None = None,
    ) -> BookingDTO:
        """Book ``quantity`` free places of an occurrence for a member: confirmed while places
        remain (and nobody waits before them), otherwise on the waiting list."""
        now = now or now_utc()
        event = await self._bookable(session, event_id, key, quantity, now)
        await lock_objects(session, [capacity_lock_key(event_id)])
        status = await self._place_status(session, event, key, quantity, user_id=user_id)
        row = EventBooking(
            event_id=event_id,
            occurrence_start=key,
            user_id=user_id,
            quantity=quantity,
            status=status,
            code=new_code(),
        )
        session.add(row)
        await session.flush()
        await session.refresh(row)
        audit.record(
            session,
            "booking.created",
            object_type="event_booking",
            object_id=row.id,
            actor_user_id=user_id,
            after={"event_id": event_id, "occurrence": key.isoformat(), "status": status,
                   "quantity": quantity},
        )  # fmt: skip
        return booking_dto(row)

    async def cancel_booking(
        self, session: AsyncSession, user_id: int, booking_id: int
    ) -> list[BookingDTO]:
        """Cancel a member's own booking (another member's is not found); the places it frees
        go to the waiting list in order. Returns the bookings that were confirmed from it."""
        row = await session.get(EventBooking, booking_id)
        if row is None or row.user_id != user_id:
            raise NotFound("booking_not_found", "No such booking.")
        if row.status == "cancelled":
            return []
        await lock_objects(session, [capacity_lock_key(row.event_id)])
        await session.refresh(row)
        if row.status == "cancelled":
            return []
        before = row.status
        row.status = "cancelled"
        await session.flush()
        audit.record(
            session,
            "booking.cancelled",
            object_type="event_booking",
            object_id=row.id,
            actor_user_id=user_id,
            before={"status": before},
            after={"status": "cancelled"},
        )
        return await self._offer_freed_places(session, row.event_id, row.occurrence_start)

    async def _offer_freed_places(
        self, session: AsyncSession, event_id: int, key: datetime
    ) -> list[BookingDTO]:
        """Confirm waiting bookings in the order they joined while they fit (the capacity
        lock is held by the caller); the first that does not fit keeps its place in line."""
        require_locked(session, [capacity_lock_key(event_id)])
        capacity = await session.scalar(select(Event.capacity).where(Event.id == event_id))
        taken = await self._taken(session, event_id, key)
        promoted: list[BookingDTO] = []
        waiting = await session.scalars(
            select(EventBooking)
            .where(
                EventBooking.event_id == event_id,
                EventBooking.occurrence_start == key,
                EventBooking.status == "waiting",
            )
            .order_by(EventBooking.id)
        )
        for booking in list(waiting):
            if capacity is not None and taken + booking.quantity > capacity:
                break
            booking.status = "confirmed"
            taken += booking.quantity
            audit.record(
                session,
                "booking.confirmed_from_waiting_list",
                object_type="event_booking",
                object_id=booking.id,
                before={"status": "waiting"},
                after={"status": "confirmed"},
            )
            promoted.append(booking_dto(booking))
        await session.flush()
        await self._tell_promoted(session, event_id, key, promoted)
        return promoted

    async def _tell_promoted(
        self, session: AsyncSession, event_id: int, key: datetime, promoted: list[BookingDTO]
    ) -> None:
        """Email each booking confirmed from the waiting list (after the commit)."""
        if not promoted or self.settings is None:
            return
        event = await self.get_event(session, event_id)
        assert event is not None
        occurrence = await self.occurrence(session, event, key)
        if occurrence is None:
            return
        members = {b.user_id for b in promoted if b.user_id is not None}
        addresses = dict(
            (await session.execute(select(User.id, User.email).where(User.id.in_(members)))).all()
            if members
            else []
        )
        for booking in promoted:
            to = booking.guest_email or addresses.get(booking.user_id or 0)
            if not to:
                continue
            self._email_after_commit(
                session,
                event_mail.place_freed_message(
                    self.settings,
                    to,
                    title=event.title,
                    local_start=zoned(occurrence),
                    event_url=self._occurrence_url(event, key),
                ),
            )

    async def member_bookings(
        self, session: AsyncSession, user_id: int, event_id: int
    ) -> list[BookingDTO]:
        """A member's bookings of one event (every occurrence, any status), newest first."""
        rows = await session.scalars(
            select(EventBooking)
            .where(EventBooking.user_id == user_id, EventBooking.event_id == event_id)
            .order_by(EventBooking.id.desc())
        )
        return [booking_dto(r) for r in rows]
