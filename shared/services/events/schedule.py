"""Events and the changes to their occurrences, as staff write them; a published event is
announced to the fediverse in the same transaction (:mod:`shared.services.events.federate`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import EventDTO, EventInput, OccurrenceException
from shared.contracts.errors import InvalidEvent
from shared.errors import FieldErrors, NotFound
from shared.infrastructure.sanitize import SLUG_RE, clean_text, sanitize_html, slugify
from shared.models import Event, EventCalendar, EventException
from shared.models.events import EVENT_STATUSES
from shared.services import audit
from shared.services.events import recurrence as rec
from shared.services.events.common import PUBLIC_STATUSES, row_dto
from shared.services.events.federate import Federating


class Schedule(Federating):
    """Finding, checking and saving events and their cancelled or moved occurrences."""

    async def event_by_slug(
        self, session: AsyncSession, slug: str, *, include_drafts: bool = False
    ) -> EventDTO | None:
        """The public event with this slug (drafts too for staff), or None."""
        query = self._event_query().where(Event.slug == slug)
        if not include_drafts:
            query = query.where(Event.status.in_(PUBLIC_STATUSES))
        row = (await session.execute(query)).first()
        return row_dto(row) if row is not None else None

    async def staff_events(self, session: AsyncSession) -> list[EventDTO]:
        """Every event, the latest first (for the staff list)."""
        rows = await session.execute(self._event_query().order_by(Event.start_at.desc()))
        return [row_dto(row) for row in rows]

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

    async def _checked(
        self, session: AsyncSession, data: EventInput, event_id: int | None
    ) -> dict[str, Any]:
        """The event's columns from ``data``, every field checked before any is reported
        (``InvalidEvent`` with ``errors``)."""
        checks = FieldErrors()
        title = clean_text(data.title)[:255]
        if not title:
            checks.note(InvalidEvent("title_required", "Give the event a title.", "title"))
        calendar = await session.get(EventCalendar, data.calendar_id)
        if calendar is None:
            checks.note(InvalidEvent("invalid_calendar", "Choose a calendar.", "calendar_id"))
        tz = ZoneInfo("UTC")
        with checks:
            tz = rec.zone(data.timezone)
        if data.status not in EVENT_STATUSES:
            checks.note(
                InvalidEvent("invalid_status", "Choose draft, published or cancelled.", "status")
            )
        start_local, end_local = data.start_local, data.end_local
        if data.all_day:
            start_local = datetime(start_local.year, start_local.month, start_local.day)
            end_local = datetime(end_local.year, end_local.month, end_local.day) + timedelta(days=1)
        if end_local <= start_local:
            checks.note(
                InvalidEvent("ends_before_start", "The end must be after the start.", "end")
            )
        elif end_local - start_local > timedelta(days=60):
            checks.note(InvalidEvent("too_long", "An event lasts at most 60 days.", "end"))
        start, end = rec.to_utc(start_local, tz), rec.to_utc(end_local, tz)
        rule = rec.normalise_rule(data.rrule)
        recur_until: datetime | None = start
        if rule:
            with checks:
                rule = _until_in_utc(rule, start_local, tz)
                rec.check_rule(rule, start_local, tz)
                recur_until = rec.last_start(rule, start_local, tz)
        if data.capacity is not None and not 0 <= data.capacity <= 100_000:
            checks.note(
                InvalidEvent("invalid_capacity", "Capacity is 0 to 100000 places.", "capacity")
            )
        if not 1 <= data.per_person_limit <= 50:
            checks.note(
                InvalidEvent(
                    "invalid_limit", "Each person may book 1 to 50 places.", "per_person_limit"
                )
            )
        # An edit without a slug keeps the event's address; a new event gets one from its title.
        kept = None
        if event_id is not None and not data.slug.strip():
            kept = await session.scalar(select(Event.slug).where(Event.id == event_id))
        slug = data.slug.strip() or kept or slugify(title or "event")
        if not SLUG_RE.match(slug) or len(slug) > 180:
            checks.note(
                InvalidEvent("invalid_slug", "Use lower-case letters, digits and -.", "slug")
            )
        elif kept:
            pass
        elif not data.slug.strip():
            slug = await self._free_slug(session, slug, event_id)
        elif await session.scalar(
            select(Event.id).where(Event.slug == slug, Event.id != (event_id or 0))
        ):
            checks.note(InvalidEvent("slug_taken", "Another event has that slug.", "slug"))
        tags = rec.dedupe(t for t in (slugify(tag)[:64] for tag in data.tags) if t)
        if len(tags) > 12:
            checks.note(InvalidEvent("too_many_tags", "At most 12 tags.", "tags"))
        image_url = map_url = None
        with checks:
            image_url = _url_or_none(data.image_url, "image_url")
        with checks:
            map_url = _url_or_none(data.map_url, "map_url")
        checks.raise_if_any()
        assert calendar is not None
        return {
            "calendar_id": calendar.id,
            "title": title,
            "slug": slug,
            "description_html": sanitize_html(data.description_html)[:100_000],
            "image_url": image_url,
            "timezone": data.timezone,
            "start_at": start,
            "end_at": end,
            "all_day": data.all_day,
            "rrule": rule or None,
            "recur_until": recur_until,
            "location_name": clean_text(data.location_name)[:255],
            "location_address": clean_text(data.location_address)[:500],
            "map_url": map_url,
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


def _url_or_none(value: str | None, field: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 2000 or urlsplit(value).scheme not in ("http", "https") or " " in value:
        raise InvalidEvent("invalid_url", "Give a full http(s) address.", field)
    return value


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
