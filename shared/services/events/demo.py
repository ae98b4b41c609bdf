"""The events domain's demo seeder; the content is in demo.yaml beside it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CalendarInput,
    EventDTO,
    EventInput,
    OccurrenceException,
    TicketTypeInput,
)
from shared.infrastructure.context import services
from shared.models import Event
from shared.services.domain import demo_content

# Demo times are local to the cooperative.
TIMEZONE = "Europe/London"
# What an event's entry holds besides the fields of EventInput.
_NOT_INPUT = {"calendar", "day", "starts", "ends", "ticket_types", "exceptions"}


def _event_input(spec: dict[str, Any], calendar_id: int, monday: datetime) -> EventInput:
    day = monday + timedelta(days=spec["day"])
    fields: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in spec.items()
        if key not in _NOT_INPUT
    }
    return EventInput(
        calendar_id=calendar_id,
        timezone=TIMEZONE,
        start_local=datetime.combine(day, time.fromisoformat(spec["starts"])),
        end_local=datetime.combine(day, time.fromisoformat(spec["ends"])),
        **fields,
    )


def _exception(event: EventDTO, spec: dict[str, Any]) -> OccurrenceException:
    occurrence = event.start + timedelta(days=spec["occurrence_day"])
    if spec.get("cancelled"):
        return OccurrenceException(occurrence, True)
    moved = occurrence + timedelta(days=spec["moved_by_days"])
    return OccurrenceException(occurrence, False, moved, moved + (event.end - event.start))


async def seed_events(session: AsyncSession) -> None:
    """Two calendars, recurring and single events (one moved date, one cancelled), a paid
    concert with ticket types, once."""
    events = services().events
    if await session.scalar(select(Event.id).limit(1)) is not None:
        return
    content = demo_content(__file__)
    calendars: dict[str, int] = {}
    for calendar in content["calendars"]:
        saved = await events.save_calendar(session, CalendarInput(**calendar))
        calendars[calendar["name"]] = saved.id
    today = datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None)
    monday = today.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=today.weekday()
    )
    specs: list[dict[str, Any]] = content["events"]
    saved_events = [
        await events.save_event(session, _event_input(spec, calendars[spec["calendar"]], monday))
        for spec in specs
    ]
    for spec, event in zip(specs, saved_events, strict=True):
        for ticket in spec.get("ticket_types", ()):
            await events.add_ticket_type(
                session,
                event.id,
                TicketTypeInput(
                    ticket["name"], event.start, ticket["price_minor"], capacity=ticket["capacity"]
                ),
            )
    for spec, event in zip(specs, saved_events, strict=True):
        for exception in spec.get("exceptions", ()):
            await events.set_exception(session, event.id, _exception(event, exception))
