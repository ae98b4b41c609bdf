"""Calendars: the named, coloured groups events belong to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import EVENT_CATEGORIES, CalendarDTO, CalendarInput
from shared.contracts.errors import InvalidEvent
from shared.errors import FieldErrors, NotFound
from shared.infrastructure.sanitize import SLUG_RE, clean_text, slugify
from shared.models import EventCalendar
from shared.services import audit
from shared.services.events import recurrence as rec
from shared.services.events.common import calendar_dto
from shared.services.events.core import EventServiceCore

_COLOUR_CHARS = frozenset("0123456789abcdef")


class Calendars(EventServiceCore):
    """Listing, finding and saving calendars."""

    async def calendars(self, session: AsyncSession) -> list[CalendarDTO]:
        """Every calendar, by name."""
        rows = await session.scalars(select(EventCalendar).order_by(EventCalendar.name))
        return [calendar_dto(row) for row in rows]

    async def calendar_by_slug(self, session: AsyncSession, slug: str) -> CalendarDTO | None:
        """The calendar with this slug, or None."""
        row = await session.scalar(select(EventCalendar).where(EventCalendar.slug == slug))
        return calendar_dto(row) if row is not None else None

    async def save_calendar(
        self,
        session: AsyncSession,
        data: CalendarInput,
        *,
        calendar_id: int | None = None,
        actor_user_id: int | None = None,
    ) -> CalendarDTO:
        """Create a calendar (``calendar_id`` None) or change one; everything is checked first."""
        checks = FieldErrors()
        name = clean_text(data.name)[:191]
        if not name:
            checks.note(InvalidEvent("name_required", "Give the calendar a name.", "name"))
        with checks:
            rec.zone(data.timezone)
        colour = data.colour.strip().lower()
        if len(colour) != 7 or colour[0] != "#" or not set(colour[1:]) <= _COLOUR_CHARS:
            checks.note(InvalidEvent("invalid_colour", "Give a colour as #rrggbb.", "colour"))
        if data.category not in EVENT_CATEGORIES:
            checks.note(InvalidEvent("invalid_category", "Choose a category.", "category"))
        slug = data.slug.strip() or slugify(name or "calendar")
        if not SLUG_RE.match(slug) or len(slug) > 180:
            checks.note(
                InvalidEvent("invalid_slug", "Use lower-case letters, digits and -.", "slug")
            )
        elif await session.scalar(
            select(EventCalendar.id).where(
                EventCalendar.slug == slug, EventCalendar.id != (calendar_id or 0)
            )
        ):
            checks.note(InvalidEvent("slug_taken", "Another calendar has that slug.", "slug"))
        checks.raise_if_any()
        if calendar_id is None:
            row = EventCalendar()
            session.add(row)
            before = None
        else:
            found = await session.get(EventCalendar, calendar_id, with_for_update=True)
            if found is None:
                raise NotFound("calendar_not_found", "No such calendar.")
            row = found
            before = calendar_dto(row).__dict__.copy()
        row.slug, row.name, row.colour, row.timezone = slug, name, colour, data.timezone
        row.category = data.category
        row.description = clean_text(data.description)[:2000]
        await session.flush()
        after = calendar_dto(row)
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
