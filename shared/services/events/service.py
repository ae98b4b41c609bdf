"""The events domain's service (the events app): calendars, events and their occurrences,
free bookings with a waiting list, ticket types sold through the cart, tickets, check-in and
iCalendar feeds.

Places are scarce: every change that takes one (a booking, a ticket reservation) first locks
``("event_capacity", event id)`` — and ``("ticket_type", id)`` for tickets — with
:func:`shared.infrastructure.locking.lock_objects`, then counts and writes in the same
transaction, so capacity holds whatever the concurrency. Freed places go to the waiting list
in the order it was joined.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import segno
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import (
    ApObjectDTO,
    AttendeeDTO,
    AvailabilityDTO,
    BookingDTO,
    CalendarDTO,
    CalendarInput,
    CheckInResult,
    EventDTO,
    EventInput,
    EventSummaryDTO,
    FederationService,
    FulfilmentLine,
    LockKey,
    MemberEntryDTO,
    MemberTicketDTO,
    Money,
    OccurrenceDTO,
    OccurrenceException,
    PersonalDataDTO,
    SellableDTO,
    TicketTypeDTO,
    TicketTypeInput,
)
from shared.contracts.errors import InvalidEvent, SoldOut, Unavailable
from shared.db import after_commit
from shared.errors import Conflict, DomainError, NotFound
from shared.infrastructure.locking import lock_objects, require_locked
from shared.infrastructure.sanitize import SLUG_RE, clean_text, sanitize_html, slugify
from shared.models import (
    Event,
    EventBooking,
    EventCalendar,
    EventException,
    EventFeedToken,
    EventTicket,
    EventTicketType,
    User,
)
from shared.services import audit
from shared.services.events import mail as event_mail
from shared.services.events import recurrence as rec

KIND = "ticket"
ACTOR = "events"
EVENT_STATUSES = ("draft", "published", "cancelled")
PUBLIC_STATUSES = ("published", "cancelled")
_COLOUR_CHARS = frozenset("0123456789abcdef")
# How far ahead "upcoming" looks, and how far back the archive goes.
UPCOMING_HORIZON = timedelta(days=366)
PAST_HORIZON = timedelta(days=366 * 2)
# A guest's confirmation link is good for a day; their cancel link until the event is over.
GUEST_CONFIRM_HOURS = 24
GUEST_CANCEL_MAX_AGE = timedelta(days=800)
GUEST_TOKEN_SALT = "events:guest-booking"  # noqa: S105 - a salt, not a secret
EMAIL_RE = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
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


def _new_code() -> str:
    # 160 bits: unguessable, and short enough for a QR code a phone reads at once.
    return secrets.token_urlsafe(20)


def _calendar_dto(row: EventCalendar) -> CalendarDTO:
    return CalendarDTO(
        id=row.id,
        slug=row.slug,
        name=row.name,
        colour=row.colour,
        description=row.description,
        timezone=row.timezone,
    )


def _event_dto(row: Event, calendar: EventCalendar) -> EventDTO:
    return EventDTO(
        id=row.id,
        calendar=_calendar_dto(calendar),
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


def _row_dto(row: Any) -> EventDTO:
    """An EventDTO from a row of :meth:`SqlEventService._event_query` (event, calendar)."""
    return _event_dto(row[0], row[1])


def _occurrence(event: EventDTO, slot: rec.Slot) -> OccurrenceDTO:
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


def _slot_for(event: EventDTO, key: datetime, change: rec.Moved | None) -> rec.Slot:
    """The occurrence named ``key`` (already known to be one), with its exception applied."""
    if change is not None and change.new_start is not None and change.new_end is not None:
        return rec.Slot(key, change.new_start, change.new_end, moved=True)
    tz = ZoneInfo(event.timezone)
    duration = rec.to_local(event.end, tz) - rec.to_local(event.start, tz)
    return rec.Slot(key, key, rec.to_utc(rec.to_local(key, tz) + duration, tz))


def _url_or_none(value: str | None, field: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 2000 or urlsplit(value).scheme not in ("http", "https") or " " in value:
        raise InvalidEvent("invalid_url", "Give a full http(s) address.", field)
    return value


class SqlEventService:
    """Implements :class:`shared.contracts.EventService`."""

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

    # -- calendars --

    async def calendars(self, session: AsyncSession) -> list[CalendarDTO]:
        """Every calendar, by name."""
        rows = await session.scalars(select(EventCalendar).order_by(EventCalendar.name))
        return [_calendar_dto(row) for row in rows]

    async def calendar_by_slug(self, session: AsyncSession, slug: str) -> CalendarDTO | None:
        """The calendar with this slug, or None."""
        row = await session.scalar(select(EventCalendar).where(EventCalendar.slug == slug))
        return _calendar_dto(row) if row is not None else None

    async def save_calendar(
        self,
        session: AsyncSession,
        data: CalendarInput,
        *,
        calendar_id: int | None = None,
        actor_user_id: int | None = None,
    ) -> CalendarDTO:
        """Create a calendar (``calendar_id`` None) or change one; everything is checked first."""
        name = clean_text(data.name)[:191]
        if not name:
            raise InvalidEvent("name_required", "Give the calendar a name.", "name")
        rec.zone(data.timezone)
        colour = data.colour.strip().lower()
        if len(colour) != 7 or colour[0] != "#" or not set(colour[1:]) <= _COLOUR_CHARS:
            raise InvalidEvent("invalid_colour", "Give a colour as #rrggbb.", "colour")
        slug = data.slug.strip() or slugify(name)
        if not SLUG_RE.match(slug) or len(slug) > 180:
            raise InvalidEvent("invalid_slug", "Use lower-case letters, digits and -.", "slug")
        clash = await session.scalar(
            select(EventCalendar.id).where(
                EventCalendar.slug == slug, EventCalendar.id != (calendar_id or 0)
            )
        )
        if clash is not None:
            raise InvalidEvent("slug_taken", "Another calendar has that slug.", "slug")
        if calendar_id is None:
            row = EventCalendar()
            session.add(row)
            before = None
        else:
            found = await session.get(EventCalendar, calendar_id, with_for_update=True)
            if found is None:
                raise NotFound("calendar_not_found", "No such calendar.")
            row = found
            before = _calendar_dto(row).__dict__.copy()
        row.slug, row.name, row.colour, row.timezone = slug, name, colour, data.timezone
        row.description = clean_text(data.description)[:2000]
        await session.flush()
        after = _calendar_dto(row)
        audit.record(
            session,
            "event_calendar.saved",
            object_type="event_calendar",
            object_id=row.id,
            actor_user_id=actor_user_id,
            before=before,
            after=after.__dict__.copy(),
        )
        return after

    # -- events --

    def _event_query(self) -> Select[Event, EventCalendar]:
        return select(Event, EventCalendar).join(
            EventCalendar, EventCalendar.id == Event.calendar_id
        )

    async def get_event(self, session: AsyncSession, event_id: int) -> EventDTO | None:
        """The event with this id, whatever its status (for staff), or None."""
        row = (await session.execute(self._event_query().where(Event.id == event_id))).first()
        return _row_dto(row) if row is not None else None

    async def event_by_slug(
        self, session: AsyncSession, slug: str, *, include_drafts: bool = False
    ) -> EventDTO | None:
        """The public event with this slug (drafts too for staff), or None."""
        query = self._event_query().where(Event.slug == slug)
        if not include_drafts:
            query = query.where(Event.status.in_(PUBLIC_STATUSES))
        row = (await session.execute(query)).first()
        return _row_dto(row) if row is not None else None

    async def staff_events(self, session: AsyncSession) -> list[EventDTO]:
        """Every event, the latest first (for the staff list)."""
        rows = await session.execute(self._event_query().order_by(Event.start_at.desc()))
        return [_row_dto(row) for row in rows]

    async def save_event(
        self,
        session: AsyncSession,
        data: EventInput,
        *,
        event_id: int | None = None,
        actor_user_id: int | None = None,
    ) -> EventDTO:
        """Create an event (``event_id`` None) or change one; everything is checked before
        anything is written. An edit keeps the UID and bumps the iCalendar SEQUENCE."""
        values = await self._checked(session, data, event_id)
        if event_id is None:
            row = Event(uid=f"{uuid.uuid4()}@{urlsplit(self.public_url).hostname or 'events'}")
            session.add(row)
            before = None
        else:
            found = await session.get(Event, event_id, with_for_update=True)
            if found is None:
                raise NotFound("event_not_found", "No such event.")
            row = found
            before = _audit_view(row)
            row.sequence += 1
        for key, value in values.items():
            setattr(row, key, value)
        await session.flush()
        await session.refresh(row)
        audit.record(
            session,
            "event.saved",
            object_type="event",
            object_id=row.id,
            actor_user_id=actor_user_id,
            before=before,
            after=_audit_view(row),
        )
        return await self._federate(session, row)

    async def _federate(self, session: AsyncSession, row: Event) -> EventDTO:
        """Bring the fediverse in line with the event after a write: a published (or
        cancelled) event is announced (``Create``, under a fresh object id) and re-sent on
        every change (``Update``); one taken back to draft is withdrawn (``Delete``)."""
        event = await self.get_event(session, row.id)
        assert event is not None
        if self.federation is None:
            return event
        if event.status in PUBLIC_STATUSES:
            if row.ap_object_uri is None:
                row.ap_object_uri = self.federation.new_object_uri(ACTOR)
                await session.flush()
                await self.federation.publish(session, ACTOR, "Create", self._ap_event(row, event))
            else:
                await self.federation.publish(session, ACTOR, "Update", self._ap_event(row, event))
        elif row.ap_object_uri is not None:
            withdrawn, row.ap_object_uri = row.ap_object_uri, None
            await session.flush()
            await self.federation.publish(session, ACTOR, "Delete", withdrawn)
        return event

    def _ap_event(self, row: Event, event: EventDTO) -> ApObjectDTO:
        """The event as an ActivityStreams ``Event`` (the fields Mobilizon reads)."""
        content = event.description_html
        if event.recurring:
            content += f"<p>Repeats: {event.rrule}</p>"
        doc: dict[str, Any] = {
            "id": row.ap_object_uri,
            "type": "Event",
            "name": event.title,
            "content": content,
            "startTime": event.start.isoformat(),
            "endTime": event.end.isoformat(),
            "timezone": event.timezone,
            "url": f"{self.public_url}/events/{event.slug}",
            "updated": event.updated_at.isoformat(),
        }
        if event.location_name or event.location_address:
            doc["location"] = {
                "type": "Place",
                "name": event.location_name or event.location_address,
                "address": event.location_address,
            }
        if event.status == "cancelled":
            doc["name"] = f"Cancelled: {event.title}"
        if event.tags:
            doc["tag"] = [{"type": "Hashtag", "name": f"#{t}"} for t in event.tags]
        return ApObjectDTO(doc)

    async def _checked(
        self, session: AsyncSession, data: EventInput, event_id: int | None
    ) -> dict[str, Any]:
        title = clean_text(data.title)[:255]
        if not title:
            raise InvalidEvent("title_required", "Give the event a title.", "title")
        calendar = await session.get(EventCalendar, data.calendar_id)
        if calendar is None:
            raise InvalidEvent("invalid_calendar", "Choose a calendar.", "calendar_id")
        tz = rec.zone(data.timezone)
        if data.status not in EVENT_STATUSES:
            raise InvalidEvent("invalid_status", "Choose draft, published or cancelled.", "status")
        start_local, end_local = data.start_local, data.end_local
        if data.all_day:
            start_local = datetime(start_local.year, start_local.month, start_local.day)
            end_local = datetime(end_local.year, end_local.month, end_local.day) + timedelta(days=1)
        if end_local <= start_local:
            raise InvalidEvent("ends_before_start", "The end must be after the start.", "end")
        if end_local - start_local > timedelta(days=60):
            raise InvalidEvent("too_long", "An event lasts at most 60 days.", "end")
        start, end = rec.to_utc(start_local, tz), rec.to_utc(end_local, tz)
        rule = rec.normalise_rule(data.rrule)
        if rule:
            rule = _until_in_utc(rule, start_local, tz)
            recur_until = rec.last_start(rule, start_local, tz)
        else:
            recur_until = start
        if data.capacity is not None and not 0 <= data.capacity <= 100_000:
            raise InvalidEvent("invalid_capacity", "Capacity is 0 to 100000 places.", "capacity")
        if not 1 <= data.per_person_limit <= 50:
            raise InvalidEvent("invalid_limit", "Each person may book 1 to 50 places.", "limit")
        # An edit without a slug keeps the event's address; a new event gets one from its title.
        kept = None
        if event_id is not None and not data.slug.strip():
            kept = await session.scalar(select(Event.slug).where(Event.id == event_id))
        slug = data.slug.strip() or kept or slugify(title)
        if not SLUG_RE.match(slug) or len(slug) > 180:
            raise InvalidEvent("invalid_slug", "Use lower-case letters, digits and -.", "slug")
        if kept:
            pass
        elif not data.slug.strip():
            slug = await self._free_slug(session, slug, event_id)
        elif await session.scalar(
            select(Event.id).where(Event.slug == slug, Event.id != (event_id or 0))
        ):
            raise InvalidEvent("slug_taken", "Another event has that slug.", "slug")
        tags = rec.dedupe(t for t in (slugify(tag)[:64] for tag in data.tags) if t)
        if len(tags) > 12:
            raise InvalidEvent("too_many_tags", "At most 12 tags.", "tags")
        return {
            "calendar_id": calendar.id,
            "title": title,
            "slug": slug,
            "description_html": sanitize_html(data.description_html)[:100_000],
            "image_url": _url_or_none(data.image_url, "image_url"),
            "timezone": data.timezone,
            "start_at": start,
            "end_at": end,
            "all_day": data.all_day,
            "rrule": rule or None,
            "recur_until": recur_until,
            "location_name": clean_text(data.location_name)[:255],
            "location_address": clean_text(data.location_address)[:500],
            "map_url": _url_or_none(data.map_url, "map_url"),
            "organiser": clean_text(data.organiser)[:255],
            "capacity": data.capacity,
            "per_person_limit": data.per_person_limit,
            "status": data.status,
            "tags": list(tags),
        }

    async def _free_slug(self, session: AsyncSession, base: str, event_id: int | None) -> str:
        taken = set(
            await session.scalars(
                select(Event.slug).where(
                    or_(Event.slug == base, Event.slug.like(f"{base}-%")),
                    Event.id != (event_id or 0),
                )
            )
        )
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        return slug

    async def exceptions(self, session: AsyncSession, event_id: int) -> list[OccurrenceException]:
        """The cancelled and moved occurrences of an event, in order."""
        rows = await session.scalars(
            select(EventException)
            .where(EventException.event_id == event_id)
            .order_by(EventException.occurrence_start)
        )
        return [
            OccurrenceException(r.occurrence_start, r.cancelled, r.new_start, r.new_end)
            for r in rows
        ]

    async def set_exception(
        self,
        session: AsyncSession,
        event_id: int,
        change: OccurrenceException,
        *,
        actor_user_id: int | None = None,
    ) -> None:
        """Cancel or move one occurrence of a recurring event (replacing an earlier change)."""
        event = await self.get_event(session, event_id)
        if event is None:
            raise NotFound("event_not_found", "No such event.")
        if not event.recurring:
            raise InvalidEvent(
                "not_recurring", "Only a repeating event has occurrences to change.", "occurrence"
            )
        if not rec.is_occurrence(
            start=event.start,
            end=event.end,
            timezone=event.timezone,
            rule=event.rrule,
            key=change.occurrence_start,
        ):
            raise InvalidEvent("not_an_occurrence", "The event has no such date.", "occurrence")
        if not change.cancelled and (
            change.new_start is None or change.new_end is None or change.new_end <= change.new_start
        ):
            raise InvalidEvent("ends_before_start", "The end must be after the start.", "end")
        row = await session.scalar(
            select(EventException).where(
                EventException.event_id == event_id,
                EventException.occurrence_start == change.occurrence_start,
            )
        )
        if row is None:
            row = EventException(event_id=event_id, occurrence_start=change.occurrence_start)
            session.add(row)
        row.cancelled = change.cancelled
        row.new_start = None if change.cancelled else change.new_start
        row.new_end = None if change.cancelled else change.new_end
        await session.execute(
            update(Event).where(Event.id == event_id).values(sequence=Event.sequence + 1)
        )
        await session.flush()
        found = await session.get(Event, event_id, populate_existing=True)
        assert found is not None
        await self._federate(session, found)
        audit.record(
            session,
            "event.occurrence_changed",
            object_type="event",
            object_id=event_id,
            actor_user_id=actor_user_id,
            after={
                "occurrence": change.occurrence_start.isoformat(),
                "cancelled": change.cancelled,
                "new_start": change.new_start.isoformat() if change.new_start else None,
            },
        )

    # -- occurrences --

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
        events = [_row_dto(row) for row in await session.execute(query)]
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
                found.append(_occurrence(event, slot))
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
        return _occurrence(event, _slot_for(event, key, change))

    # -- places --

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
            raise DomainError(
                "booking_limit", f"You can book 1 to {event.per_person_limit} places."
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
            raise DomainError(
                "booking_limit",
                f"Each person can book at most {event.per_person_limit} places for this event.",
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
            code=_new_code(),
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
        return _booking_dto(row)

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
            promoted.append(_booking_dto(booking))
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
                    local_start=_zoned(occurrence),
                    event_url=self._occurrence_url(event, key),
                ),
            )

    def _occurrence_url(self, event: EventDTO, key: datetime) -> str:
        return f"{self.public_url}/events/{event.slug}?at={key:%Y%m%dT%H%M%SZ}"

    def _ics_url(self, event: EventDTO) -> str:
        return f"{self.public_url}/events/{event.slug}/event.ics"

    # -- guests' bookings (free events, confirmed by email) --
    #
    # A guest gives a name and an address; the booking is written "pending" and counts for
    # nothing (a stranger typing addresses cannot hold places) until the guest follows the
    # signed link emailed to them, valid GUEST_CONFIRM_HOURS. Confirming takes the same
    # capacity lock as a member's booking and the same rules: the per-person limit per
    # address, confirmed while places remain, else the waiting list. The email that follows
    # carries a signed link to cancel.

    def _guest_serializer(self) -> URLSafeTimedSerializer:
        secret = self.settings.secrets.secret_key if self.settings is not None else None
        if not secret:
            raise DomainError("guest_booking_unavailable", "Guest booking is not available.")
        return URLSafeTimedSerializer(secret, salt=GUEST_TOKEN_SALT)

    def guest_token(self, booking: BookingDTO, action: str) -> str:
        """The signed token of a guest's confirm or cancel link."""
        return str(
            self._guest_serializer().dumps({"b": booking.id, "a": action, "e": booking.guest_email})
        )

    async def _guest_row(
        self, session: AsyncSession, token: str, action: str, *, lock: bool = False
    ) -> EventBooking:
        max_age = (
            GUEST_CONFIRM_HOURS * 3600
            if action == "confirm"
            else int(GUEST_CANCEL_MAX_AGE.total_seconds())
        )
        try:
            data = self._guest_serializer().loads(token[:500], max_age=max_age)
        except SignatureExpired as err:
            raise DomainError("token_expired", "This link has expired.") from err
        except BadSignature as err:
            raise DomainError("token_invalid", "This link is not valid.") from err
        if not isinstance(data, dict) or data.get("a") != action:
            raise DomainError("token_invalid", "This link is not valid.")
        row = await session.get(EventBooking, data.get("b"), populate_existing=True)
        if row is None or row.guest_email is None or row.guest_email != data.get("e"):
            raise NotFound("booking_not_found", "No such booking.")
        if lock:
            await lock_objects(session, [capacity_lock_key(row.event_id)])
            await session.refresh(row)
        return row

    async def request_guest_booking(
        self,
        session: AsyncSession,
        event_id: int,
        key: datetime,
        *,
        name: str,
        email: str,
        quantity: int = 1,
        now: datetime | None = None,
    ) -> BookingDTO:
        """A guest asks for free places: a pending booking, and an email (sent after the
        commit) with the signed link that confirms it."""
        now = now or now_utc()
        name = clean_text(name)[:191]
        if not name:
            raise InvalidEvent("name_required", "Give your name.", "name")
        email = email.strip().lower()
        if len(email) > 320 or not EMAIL_RE.match(email):
            raise InvalidEvent("invalid_email", "Give a valid email address.", "email")
        event = await self._bookable(session, event_id, key, quantity, now)
        occurrence = await self.occurrence(session, event, key)
        assert occurrence is not None
        if await self.ticket_types(session, event_id, key):
            raise DomainError("tickets_only", "This event is ticketed: buy a ticket instead.")
        row = EventBooking(
            event_id=event_id,
            occurrence_start=key,
            guest_email=email,
            guest_name=name,
            quantity=quantity,
            status="pending",
            code=_new_code(),
        )
        session.add(row)
        await session.flush()
        await session.refresh(row)
        audit.record(
            session,
            "booking.requested_by_guest",
            object_type="event_booking",
            object_id=row.id,
            after={"event_id": event_id, "occurrence": key.isoformat(), "quantity": quantity},
        )
        booking = _booking_dto(row)
        if self.settings is not None:
            self._email_after_commit(
                session,
                event_mail.guest_confirm_message(
                    self.settings,
                    email,
                    name=name,
                    title=event.title,
                    local_start=_zoned(occurrence),
                    quantity=quantity,
                    confirm_url=f"{self.public_url}/guest-bookings/confirm/"
                    f"{self.guest_token(booking, 'confirm')}",
                    valid_hours=GUEST_CONFIRM_HOURS,
                ),
            )
        return booking

    async def guest_booking(
        self, session: AsyncSession, token: str, action: str
    ) -> tuple[BookingDTO, EventDTO]:
        """The guest's booking a confirm or cancel link names, with its event (for the page
        that asks before acting); a forged or expired link is refused with a code."""
        if action not in ("confirm", "cancel"):
            raise DomainError("token_invalid", "This link is not valid.")
        row = await self._guest_row(session, token, action)
        event = await self.get_event(session, row.event_id)
        assert event is not None
        return _booking_dto(row), event

    async def confirm_guest_booking(
        self, session: AsyncSession, token: str, *, now: datetime | None = None
    ) -> BookingDTO:
        """Confirm a guest's pending booking under the capacity lock: confirmed while places
        remain, else the waiting list; the same link again changes nothing."""
        now = now or now_utc()
        row = await self._guest_row(session, token, "confirm", lock=True)
        if row.status != "pending":
            return _booking_dto(row)
        event = await self._bookable(session, row.event_id, row.occurrence_start, row.quantity, now)
        assert row.guest_email is not None
        status = await self._place_status(
            session, event, row.occurrence_start, row.quantity, email=row.guest_email
        )
        row.status = status
        await session.flush()
        audit.record(
            session,
            "booking.confirmed_by_guest",
            object_type="event_booking",
            object_id=row.id,
            before={"status": "pending"},
            after={"status": status},
        )
        booking = _booking_dto(row)
        occurrence = await self.occurrence(session, event, row.occurrence_start)
        if self.settings is not None and occurrence is not None:
            self._email_after_commit(
                session,
                event_mail.guest_booked_message(
                    self.settings,
                    row.guest_email,
                    name=row.guest_name,
                    title=event.title,
                    local_start=_zoned(occurrence),
                    status=status,
                    code=row.code,
                    event_url=self._occurrence_url(event, row.occurrence_start),
                    ics_url=self._ics_url(event),
                    cancel_url=f"{self.public_url}/guest-bookings/cancel/"
                    f"{self.guest_token(booking, 'cancel')}",
                ),
            )
        return booking

    async def cancel_guest_booking(self, session: AsyncSession, token: str) -> list[BookingDTO]:
        """Cancel a guest's booking through their signed link; freed places go to the waiting
        list in order (returned, and emailed). Cancelling twice changes nothing."""
        row = await self._guest_row(session, token, "cancel", lock=True)
        if row.status == "cancelled":
            return []
        before, row.status = row.status, "cancelled"
        await session.flush()
        audit.record(
            session,
            "booking.cancelled",
            object_type="event_booking",
            object_id=row.id,
            before={"status": before},
            after={"status": "cancelled"},
        )
        return await self._offer_freed_places(session, row.event_id, row.occurrence_start)

    async def member_bookings(
        self, session: AsyncSession, user_id: int, event_id: int
    ) -> list[BookingDTO]:
        """A member's bookings of one event (every occurrence, any status), newest first."""
        rows = await session.scalars(
            select(EventBooking)
            .where(EventBooking.user_id == user_id, EventBooking.event_id == event_id)
            .order_by(EventBooking.id.desc())
        )
        return [_booking_dto(r) for r in rows]

    async def member_upcoming(
        self, session: AsyncSession, user_id: int, *, now: datetime | None = None
    ) -> list[MemberEntryDTO]:
        """A member's bookings (confirmed or waiting) and tickets of occurrences that have not
        ended, soonest first: what their dashboard lists, each with its QR code and .ics."""
        now = now or now_utc()
        lookback = now - timedelta(days=61)  # no event lasts longer than 60 days
        bookings = await session.execute(
            self._event_query()
            .add_columns(EventBooking)
            .join(EventBooking, EventBooking.event_id == Event.id)
            .where(
                EventBooking.user_id == user_id,
                EventBooking.status.in_(("confirmed", "waiting")),
                EventBooking.occurrence_start > lookback,
            )
        )
        tickets = await session.execute(
            self._event_query()
            .add_columns(EventTicket, EventTicketType.name)
            .join(EventTicket, EventTicket.event_id == Event.id)
            .join(EventTicketType, EventTicketType.id == EventTicket.ticket_type_id)
            .where(
                EventTicket.user_id == user_id,
                EventTicket.status == "issued",
                EventTicket.occurrence_start > lookback,
            )
        )
        rows: list[tuple[EventDTO, datetime, MemberEntryDTO]] = []
        entries: list[tuple[EventDTO, datetime, dict[str, Any]]] = []
        for event_row, calendar, booking in bookings:
            event = _event_dto(event_row, calendar)
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
            event = _event_dto(event_row, calendar)
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
            slot = _slot_for(event, key, change)
            if slot.end <= now:
                continue
            code = fields.pop("code")
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
        rows.sort(key=lambda r: (r[1], r[2].kind, r[2].id))
        return [entry for _, _, entry in rows]

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

    # -- tickets (sold through the cart) --

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
        name = clean_text(data.name)[:191]
        if not name:
            raise InvalidEvent("name_required", "Name the ticket type.", "name")
        if not 0 <= data.price_minor <= 10_000_000:
            raise InvalidEvent("invalid_price", "Give a price from 0.", "price")
        if data.capacity is not None and not 0 <= data.capacity <= 100_000:
            raise InvalidEvent("invalid_capacity", "Capacity is 0 to 100000.", "capacity")
        try:
            Money(data.price_minor, data.currency)
        except ValueError as err:
            raise InvalidEvent("invalid_currency", "Give a currency code.", "currency") from err
        if await self.occurrence(session, event, data.occurrence_start) is None:
            raise InvalidEvent("not_an_occurrence", "The event has no such date.", "occurrence")
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
                    code=_new_code(),
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
                _zoned(occurrence)
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

    # -- staff: attendees and check-in --

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
            slot = _slot_for(
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

    # -- iCalendar feeds --

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
        from shared.services.events.ical import build_calendar

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
        events = [_row_dto(row) for row in await session.execute(query.order_by(Event.id))]
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

    # -- capabilities other domains ask for (shared/contracts/) --

    async def upcoming_for_member(
        self, session: AsyncSession, user_id: int, *, limit: int = 10
    ) -> tuple[MemberTicketDTO, ...]:
        """The member's tickets and bookings for events still to come, soonest first (the
        account dashboard's ``MemberTickets``): each with its QR code and .ics link."""
        entries = await self.member_upcoming(session, user_id)
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
                starts_at=_zoned(o),
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


def _zoned(occurrence: OccurrenceDTO) -> datetime:
    """The occurrence's start as an aware time in the event's zone (for emails and digests)."""
    return occurrence.start.astimezone(ZoneInfo(occurrence.event.timezone))


def _plain(html: str, limit: int = 240) -> str:
    """A description's text without markup, shortened at a word."""
    text = " ".join(unescape(re.sub(r"<[^>]*>", " ", html)).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def _until_in_utc(rule: str, local_start: datetime, tz: ZoneInfo) -> str:
    """RFC 5545: with a zoned DTSTART, UNTIL is given in UTC; store it so."""
    parsed = rec.build_rule(rule, local_start, tz)
    until = parsed._until
    if until is None:
        return rule
    utc = rec.to_utc(until, tz).strftime("%Y%m%dT%H%M%SZ")
    return ";".join(
        f"UNTIL={utc}" if part.startswith("UNTIL=") else part for part in rule.split(";")
    )


def _audit_view(row: Event) -> dict[str, Any]:
    return {
        "title": row.title,
        "slug": row.slug,
        "status": row.status,
        "start": row.start_at.isoformat() if row.start_at else None,
        "end": row.end_at.isoformat() if row.end_at else None,
        "timezone": row.timezone,
        "rrule": row.rrule,
        "capacity": row.capacity,
    }


def _booking_dto(row: EventBooking) -> BookingDTO:
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
