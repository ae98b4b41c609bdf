"""Small factories for the events tests: a calendar and an event through the service."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CalendarDTO, CalendarInput, EventDTO, EventInput
from shared.services.events.service import SqlEventService

events = SqlEventService("https://events.example")


async def calendar(session: AsyncSession, tz: str = "Europe/London", **fields: str) -> CalendarDTO:
    name = fields.pop("name", f"Venue {secrets.token_hex(3)}")
    return await events.save_calendar(session, CalendarInput(name=name, timezone=tz, **fields))


async def event(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    tz: str = "Europe/London",
    calendar_id: int | None = None,
    status: str = "published",
    **fields: object,
) -> EventDTO:
    if calendar_id is None:
        calendar_id = (await calendar(session, tz)).id
    title = str(fields.pop("title", f"Event {secrets.token_hex(3)}"))
    return await events.save_event(
        session,
        EventInput(
            calendar_id=calendar_id,
            title=title,
            timezone=tz,
            start_local=start,
            end_local=end,
            status=status,
            **fields,  # type: ignore[arg-type]
        ),
    )
