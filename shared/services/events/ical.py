"""iCalendar (RFC 5545) output for the events domain, written with the ``icalendar`` package.

Each event is one VEVENT whose UID never changes (edits bump SEQUENCE); times carry their
TZID and the calendar carries a VTIMEZONE for every zone it uses; a recurring event carries
its RRULE, an EXDATE per cancelled occurrence and an overriding VEVENT (same UID, with a
RECURRENCE-ID) per moved one. DTSTAMP is the event's last change, so an unchanged event
reads the same every time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from icalendar import Calendar, vRecur
from icalendar import Event as VEvent

from shared.contracts import EventDTO, OccurrenceException
from shared.infrastructure.sanitize import html_to_text

PRODID = "-//Rose Ash//Events//EN"


def _times(vevent: VEvent, event: EventDTO, start_utc: object, end_utc: object) -> None:
    tz = ZoneInfo(event.timezone)
    start = start_utc.astimezone(tz)  # type: ignore[attr-defined]
    end = end_utc.astimezone(tz)  # type: ignore[attr-defined]
    if event.all_day:
        vevent.add("dtstart", start.date())
        vevent.add("dtend", end.date())  # local midnight after the last day: exclusive
    else:
        vevent.add("dtstart", start)
        vevent.add("dtend", end)


def _vevent(event: EventDTO, public_url: str) -> VEvent:
    vevent = VEvent()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", event.updated_at)
    vevent.add("last-modified", event.updated_at)
    vevent.add("sequence", event.sequence)
    vevent.add("summary", event.title)
    vevent.add("url", f"{public_url}/events/{event.slug}")
    vevent.add("status", "CANCELLED" if event.status == "cancelled" else "CONFIRMED")
    text = html_to_text(event.description_html)
    if text:
        vevent.add("description", text)
    location = ", ".join(p for p in (event.location_name, event.location_address) if p)
    if location:
        vevent.add("location", location)
    if event.organiser:
        vevent.add("x-rose-ash-organiser", event.organiser)
    if event.tags:
        vevent.add("categories", list(event.tags))
    return vevent


def build_calendar(
    name: str,
    events: Sequence[EventDTO],
    exceptions: Mapping[int, Sequence[OccurrenceException]],
    public_url: str,
) -> str:
    """The VCALENDAR of ``events`` (with their exceptions)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for event in events:
        vevent = _vevent(event, public_url)
        _times(vevent, event, event.start, event.end)
        changes = exceptions.get(event.id, ())
        if event.rrule:
            vevent.add("rrule", vRecur.from_ical(event.rrule))
            tz = ZoneInfo(event.timezone)
            cancelled = [c.occurrence_start.astimezone(tz) for c in changes if c.cancelled]
            if cancelled:
                vevent.add("exdate", cancelled)
        cal.add_component(vevent)
        for change in changes:
            if change.cancelled or change.new_start is None or change.new_end is None:
                continue
            moved = _vevent(event, public_url)
            original = change.occurrence_start.astimezone(ZoneInfo(event.timezone))
            moved.add("recurrence-id", original.date() if event.all_day else original)
            _times(moved, event, change.new_start, change.new_end)
            cal.add_component(moved)
    cal.add_missing_timezones()
    return str(cal.to_ical().decode())
