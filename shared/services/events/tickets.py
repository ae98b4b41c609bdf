"""Ticket types and the tickets sold through the cart (``SellableProvider``).

A reservation locks ``("ticket_type", id)`` and its event's capacity, then takes from the
type's count and the occurrence's places, all or nothing; tickets are issued once the order is
paid and emailed to the buyer after the commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    EventDTO,
    FulfilmentLine,
    LockKey,
    Money,
    SellableDTO,
    TicketTypeDTO,
    TicketTypeInput,
)
from shared.contracts.errors import InvalidEvent, SoldOut, Unavailable
from shared.errors import DomainError, FieldErrors, NotFound
from shared.infrastructure.locking import require_locked
from shared.infrastructure.sanitize import clean_text
from shared.models import Event, EventTicket, EventTicketType
from shared.services import audit
from shared.services.events import mail as event_mail
from shared.services.events.common import (
    capacity_lock_key,
    new_code,
    now_utc,
    ticket_type_lock_key,
    zoned,
)
from shared.services.events.core import EventServiceCore

# What the cart calls these items.
KIND = "ticket"


class Tickets(EventServiceCore):
    """Ticket types, and reserving, releasing and issuing tickets for the cart."""

    async def ticket_types(
        self, session: AsyncSession, event_id: int, key: datetime | None = None
    ) -> list[TicketTypeDTO]:
        """An event's ticket types (of one occurrence when ``key`` is given)."""
        query = select(EventTicketType).where(EventTicketType.event_id == event_id)
        if key is not None:
            query = query.where(EventTicketType.occurrence_start == key)
        rows = await session.scalars(
            query.order_by(EventTicketType.occurrence_start, EventTicketType.id)
        )
        return [_ticket_type_dto(r) for r in rows]

    async def add_ticket_type(
        self,
        session: AsyncSession,
        event_id: int,
        data: TicketTypeInput,
        *,
        actor_user_id: int | None = None,
    ) -> TicketTypeDTO:
        """A new ticket type for one occurrence of an event."""
        event = await self.get_event(session, event_id)
        if event is None:
            raise NotFound("event_not_found", "No such event.")
        checks = FieldErrors()  # every field checked before any is reported
        name = clean_text(data.name)[:191]
        if not name:
            checks.note(InvalidEvent("name_required", "Name the ticket type.", "name"))
        if not 0 <= data.price_minor <= 10_000_000:
            checks.note(InvalidEvent("invalid_price", "Give a price from 0.", "price"))
        if data.capacity is not None and not 0 <= data.capacity <= 100_000:
            checks.note(InvalidEvent("invalid_capacity", "Capacity is 0 to 100000.", "capacity"))
        try:
            Money(max(data.price_minor, 0), data.currency)
        except ValueError:
            checks.note(InvalidEvent("invalid_currency", "Give a currency code.", "currency"))
        if await self.occurrence(session, event, data.occurrence_start) is None:
            checks.note(
                InvalidEvent("not_an_occurrence", "The event has no such date.", "occurrence")
            )
        checks.raise_if_any()
        row = EventTicketType(
            event_id=event_id,
            occurrence_start=data.occurrence_start,
            name=name,
            price_minor=data.price_minor,
            currency=data.currency,
            capacity=data.capacity,
        )
        session.add(row)
        await session.flush()
        await session.refresh(row)
        audit.record(
            session,
            "ticket_type.created",
            object_type="event_ticket_type",
            object_id=row.id,
            actor_user_id=actor_user_id,
            after={"name": name, "price_minor": data.price_minor, "capacity": data.capacity},
        )
        return _ticket_type_dto(row)

    async def sellables(self, session: AsyncSession, ids: Iterable[int]) -> dict[int, SellableDTO]:
        """The current price, availability and places left of each known ticket type."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = (
            await session.execute(
                select(
                    EventTicketType,
                    Event.title,
                    Event.slug,
                    Event.status,
                    Event.image_url,
                    Event.capacity,
                )
                .join(Event, Event.id == EventTicketType.event_id)
                .where(EventTicketType.id.in_(wanted))
            )
        ).all()
        now = now_utc()
        # Tickets share their occurrence's places with free bookings: what is left of the
        # occurrence bounds every ticket type of it.
        occurrence_left: dict[tuple[int, datetime], int] = {}
        for ticket_type, *_rest, capacity in rows:
            slot = (ticket_type.event_id, ticket_type.occurrence_start)
            if capacity is not None and slot not in occurrence_left:
                occurrence_left[slot] = capacity - await self._taken(session, *slot)
        found = {}
        for ticket_type, title, slug, status, image, _capacity in rows:
            left = None
            if ticket_type.capacity is not None:
                left = ticket_type.capacity - ticket_type.taken
            slot = (ticket_type.event_id, ticket_type.occurrence_start)
            if slot in occurrence_left:
                left = occurrence_left[slot] if left is None else min(left, occurrence_left[slot])
            if left is not None:
                left = max(0, left)
            found[ticket_type.id] = SellableDTO(
                kind=KIND,
                id=ticket_type.id,
                title=f"{title} — {ticket_type.name}",
                price=Money(ticket_type.price_minor, ticket_type.currency),
                available=ticket_type.available
                and status == "published"
                and ticket_type.occurrence_start > now
                and (left is None or left > 0),
                stock=left,
                url=f"{self.public_url}/events/{slug}"
                f"?at={ticket_type.occurrence_start:%Y%m%dT%H%M%SZ}",
                image_url=image,
                physical=False,  # nothing to collect or deliver: checkout asks for neither
                unit="ticket",
            )
        return found

    async def lock_keys(self, session: AsyncSession, ids: Iterable[int]) -> list[LockKey]:
        """Each ticket type's own count and its event's capacity."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        rows = await session.execute(
            select(EventTicketType.id, EventTicketType.event_id).where(
                EventTicketType.id.in_(wanted)
            )
        )
        keys: set[LockKey] = set()
        for type_id, event_id in rows:
            keys.add(ticket_type_lock_key(type_id))
            keys.add(capacity_lock_key(event_id))
        return sorted(keys)

    async def reserve(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Take tickets from their types' counts and their occurrences' capacity, all or
        nothing (the locks of :meth:`lock_keys` must be held)."""
        wanted = _positive(quantities)
        rows = {
            r.EventTicketType.id: r
            for r in await session.execute(
                select(EventTicketType, Event.capacity, Event.status)
                .join(Event, Event.id == EventTicketType.event_id)
                .where(EventTicketType.id.in_(list(wanted)))
                .execution_options(populate_existing=True)
            )
        }
        now = now_utc()
        missing = sorted(
            i
            for i in wanted
            if i not in rows
            or not rows[i].EventTicketType.available
            or rows[i].status != "published"
            or rows[i].EventTicketType.occurrence_start <= now
        )
        if missing:
            raise Unavailable(KIND, missing)
        require_locked(
            session,
            [ticket_type_lock_key(i) for i in wanted]
            + [capacity_lock_key(rows[i].EventTicketType.event_id) for i in wanted],
        )
        short: dict[int, int] = {}
        # What each occurrence still has, counted once per occurrence.
        per_occurrence: dict[tuple[int, datetime], int] = {}
        for type_id, quantity in sorted(wanted.items()):
            ticket_type = rows[type_id].EventTicketType
            if ticket_type.capacity is not None:
                left = ticket_type.capacity - ticket_type.taken
                if left < quantity:
                    short[type_id] = max(0, left)
            capacity = rows[type_id].capacity
            if capacity is not None:
                slot = (ticket_type.event_id, ticket_type.occurrence_start)
                if slot not in per_occurrence:
                    per_occurrence[slot] = capacity - await self._taken(session, *slot)
                if per_occurrence[slot] < quantity:
                    short[type_id] = max(0, min(short.get(type_id, 10**9), per_occurrence[slot]))
                per_occurrence[slot] -= quantity
        if short:
            raise SoldOut(KIND, short)
        for type_id, quantity in sorted(wanted.items()):
            await session.execute(
                update(EventTicketType)
                .where(EventTicketType.id == type_id)
                .values(taken=EventTicketType.taken + quantity)
            )

    async def release(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Give back what :meth:`reserve` took (an unpaid order expired or was cancelled)."""
        for type_id, quantity in sorted(_positive(quantities).items()):
            # A decrement cannot oversell, so it needs no lock: the UPDATE is atomic.
            await session.execute(
                update(EventTicketType)
                .where(EventTicketType.id == type_id)
                .values(taken=func.greatest(EventTicketType.taken - quantity, 0))
            )

    async def fulfil(self, session: AsyncSession, lines: Sequence[FulfilmentLine]) -> None:
        """Issue one ticket per place of each paid line (its places were reserved at checkout);
        a line already issued is left as it is, so a repeated payment report issues nothing.
        The tickets issued now are emailed to the buyer once the payment is committed."""
        issued_now: list[tuple[FulfilmentLine, EventTicket, EventTicketType]] = []
        for line in lines:
            ticket_type = await session.get(EventTicketType, line.item_id)
            if ticket_type is None:
                raise NotFound("ticket_type_not_found", f"No ticket type {line.item_id}.")
            issued = set(
                await session.scalars(
                    select(EventTicket.seq).where(EventTicket.order_line_id == line.order_line_id)
                )
            )
            for seq in range(1, line.quantity + 1):
                if seq in issued:
                    continue
                ticket = EventTicket(
                    ticket_type_id=ticket_type.id,
                    event_id=ticket_type.event_id,
                    occurrence_start=ticket_type.occurrence_start,
                    user_id=line.buyer_user_id,
                    holder_email=line.buyer_email,
                    holder_name=line.buyer_name,
                    order_id=line.order_id,
                    order_line_id=line.order_line_id,
                    seq=seq,
                    code=new_code(),
                )
                session.add(ticket)
                await session.flush()
                audit.record(
                    session,
                    "ticket.issued",
                    object_type="event_ticket",
                    object_id=ticket.id,
                    actor_user_id=line.buyer_user_id,
                    after={"order_line_id": line.order_line_id, "seq": seq,
                           "ticket_type_id": ticket_type.id},
                )  # fmt: skip
                issued_now.append((line, ticket, ticket_type))
        if issued_now:
            await self._email_tickets(session, issued_now)

    async def _email_tickets(
        self,
        session: AsyncSession,
        issued: list[tuple[FulfilmentLine, EventTicket, EventTicketType]],
    ) -> None:
        """One email per buyer with each new ticket's code, QR code and .ics link."""
        if self.settings is None:
            return
        events: dict[int, EventDTO] = {}
        by_buyer: dict[tuple[str, str], list[event_mail.TicketLine]] = {}
        for line, ticket, ticket_type in issued:
            if ticket.event_id not in events:
                found = await self.get_event(session, ticket.event_id)
                assert found is not None
                events[ticket.event_id] = found
            event = events[ticket.event_id]
            occurrence = await self.occurrence(session, event, ticket.occurrence_start)
            local_start = (
                zoned(occurrence)
                if occurrence is not None
                else ticket.occurrence_start.astimezone(ZoneInfo(event.timezone))
            )
            by_buyer.setdefault((line.buyer_email, line.buyer_name), []).append(
                event_mail.TicketLine(
                    code=ticket.code,
                    title=event.title,
                    ticket_type=ticket_type.name,
                    local_start=local_start,
                    location=", ".join(
                        p for p in (event.location_name, event.location_address) if p
                    ),
                    event_url=self._occurrence_url(event, ticket.occurrence_start),
                    ics_url=self._ics_url(event),
                )
            )
        for (email, name), tickets in by_buyer.items():
            if email:
                self._email_after_commit(
                    session, event_mail.tickets_message(self.settings, email, name, tickets)
                )


def _ticket_type_dto(row: EventTicketType) -> TicketTypeDTO:
    return TicketTypeDTO(
        id=row.id,
        event_id=row.event_id,
        occurrence_start=row.occurrence_start,
        name=row.name,
        price=Money(row.price_minor, row.currency),
        capacity=row.capacity,
        taken=row.taken,
        available=row.available,
    )


def _positive(quantities: Mapping[int, int]) -> dict[int, int]:
    for item_id, quantity in quantities.items():
        if quantity <= 0:
            raise DomainError("invalid_quantity", f"Quantity for {item_id} must be positive.")
    return dict(quantities)
