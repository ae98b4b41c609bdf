"""What the parts of the events service share: the statuses, the lock keys, the clock and
the mapping of rows to DTOs."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import segno

from shared.contracts import BookingDTO, CalendarDTO, EventDTO, LockKey, OccurrenceDTO
from shared.models import Event, EventBooking, EventCalendar
from shared.services.events import recurrence as rec

PUBLIC_STATUSES = ("published", "cancelled")
# A booking holding a place or waiting for one.
ACTIVE = ("confirmed", "waiting")


def capacity_lock_key(event_id: int) -> LockKey:
    return ("event_capacity", event_id)


def ticket_type_lock_key(ticket_type_id: int) -> LockKey:
    return ("ticket_type", ticket_type_id)


def now_utc() -> datetime:
    return datetime.now(UTC)


def qr_data_uri(code: str) -> str:
    """An SVG QR code of ``code`` as a ``data:`` URI (for an ``<img>``)."""
    return str(segno.make(code, error="m").svg_data_uri(scale=4, border=2))


def new_code() -> str:
    # 160 bits: unguessable, and short enough for a QR code a phone reads at once.
    return secrets.token_urlsafe(20)


def calendar_dto(row: EventCalendar) -> CalendarDTO:
    return CalendarDTO(
        id=row.id,
        slug=row.slug,
        name=row.name,
        colour=row.colour,
        description=row.description,
        timezone=row.timezone,
        category=row.category,
    )


def event_dto(row: Event, calendar: EventCalendar) -> EventDTO:
    return EventDTO(
        id=row.id,
        calendar=calendar_dto(calendar),
        slug=row.slug,
        uid=row.uid,
        sequence=row.sequence,
        title=row.title,
        description_html=row.description_html,
        image_url=row.image_url,
        timezone=row.timezone,
        start=row.start_at,
        end=row.end_at,
        all_day=row.all_day,
        rrule=row.rrule,
        location_name=row.location_name,
        location_address=row.location_address,
        map_url=row.map_url,
        organiser=row.organiser,
        capacity=row.capacity,
        per_person_limit=row.per_person_limit,
        status=row.status,
        tags=tuple(row.tags or ()),
        updated_at=row.updated_at,
    )


def row_dto(row: Any) -> EventDTO:
    """An EventDTO from a row of :meth:`EventServiceCore._event_query` (event, calendar)."""
    return event_dto(row[0], row[1])


def occurrence_dto(event: EventDTO, slot: rec.Slot) -> OccurrenceDTO:
    tz = ZoneInfo(event.timezone)
    return OccurrenceDTO(
        event=event,
        occurrence_start=slot.key,
        start=slot.start,
        end=slot.end,
        local_start=rec.to_local(slot.start, tz),
        local_end=rec.to_local(slot.end, tz),
        moved=slot.moved,
    )


def slot_for(event: EventDTO, key: datetime, change: rec.Moved | None) -> rec.Slot:
    """The occurrence named ``key`` (already known to be one), with its exception applied."""
    if change is not None and change.new_start is not None and change.new_end is not None:
        return rec.Slot(key, change.new_start, change.new_end, moved=True)
    tz = ZoneInfo(event.timezone)
    duration = rec.to_local(event.end, tz) - rec.to_local(event.start, tz)
    return rec.Slot(key, key, rec.to_utc(rec.to_local(key, tz) + duration, tz))


def zoned(occurrence: OccurrenceDTO) -> datetime:
    """The occurrence's start as an aware time in the event's zone (for emails and digests)."""
    return occurrence.start.astimezone(ZoneInfo(occurrence.event.timezone))


def booking_dto(row: EventBooking) -> BookingDTO:
    return BookingDTO(
        id=row.id,
        event_id=row.event_id,
        occurrence_start=row.occurrence_start,
        user_id=row.user_id,
        quantity=row.quantity,
        status=row.status,
        code=row.code,
        checked_in_at=row.checked_in_at,
        created_at=row.created_at,
        guest_email=row.guest_email,
        guest_name=row.guest_name,
    )
