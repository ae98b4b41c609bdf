"""What the events app's routes share: filters, the month grid, occurrence keys, caching."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import segno
from quart import Response, request, url_for

from shared.contracts import OccurrenceDTO
from shared.errors import NotFound
from shared.infrastructure.auth import current_user
from shared.infrastructure.context import current_platform
from shared.infrastructure.fragments import render_page
from shared.infrastructure.sanitize import SLUG_RE, html_to_text
from shared.services.events import recurrence as rec


def display_tz() -> str:
    """The site's time zone (``time_zone``): month and day views without a calendar filter
    are laid out in it."""
    return current_platform().settings.time_zone


@dataclass(frozen=True)
class Filters:
    calendar: str | None
    tag: str | None

    def query(self, **extra: Any) -> dict[str, Any]:
        """Query arguments that keep the filters across links."""
        args = {"calendar": self.calendar, "tag": self.tag, **extra}
        return {k: v for k, v in args.items() if v}


def filters() -> Filters:
    """``?calendar=`` and ``?tag=`` (slugs); anything else is a missing page."""
    values = []
    for name in ("calendar", "tag"):
        raw = request.args.get(name) or None
        if raw is not None and (not SLUG_RE.match(raw) or len(raw) > 180):
            raise NotFound("no_such_filter", "There is no such calendar or tag.")
        values.append(raw)
    return Filters(*values)


def occurrence_key(raw: str | None) -> datetime | None:
    """``?at=YYYYMMDDTHHMMSSZ``; malformed is a missing page."""
    if raw is None:
        return None
    key = rec.parse_key(raw)
    if key is None:
        raise NotFound("occurrence_not_found", "The event does not happen then.")
    return key


@dataclass(frozen=True)
class Day:
    day: date
    in_month: bool
    occurrences: tuple[OccurrenceDTO, ...]


def month_grid(year: int, month: int, occurrences: list[OccurrenceDTO]) -> list[list[Day]]:
    """The month's weeks, each day with the occurrences on it (every local day an occurrence
    covers, in the event's own zone)."""
    by_day: dict[date, list[OccurrenceDTO]] = {}
    for occ in occurrences:
        day = occ.local_start.date()
        last = (occ.local_end - timedelta(microseconds=1)).date()
        while day <= last:
            by_day.setdefault(day, []).append(occ)
            day += timedelta(days=1)
    return [
        [Day(d.date(), d.month == month, tuple(by_day.get(d.date(), ()))) for d in week]
        for week in rec.month_weeks(year, month)
    ]


def day_window(first: date, days: int, tz: str) -> tuple[datetime, datetime]:
    """The UTC window of ``days`` local days from ``first`` in ``tz``."""
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day)
    return rec.to_utc(start, zone), rec.to_utc(start + timedelta(days=days), zone)


def personalised(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response


async def events_page(template: str, **context: Any) -> Response:
    """A page of the events app; private when rendered for a signed-in member."""
    response = Response(await render_page(template, **context), mimetype="text/html")
    if current_user() is not None:
        personalised(response)
    return response


def ics_response(body: str, filename: str) -> Response:
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def qr_data_uri(code: str) -> str:
    """An SVG QR code of ``code`` as a ``data:`` URI, as the member's page shows theirs."""
    return str(segno.make(code, error="m").svg_data_uri(scale=4, border=2))


@dataclass(frozen=True)
class CalendarLinks:
    """ "Add to calendar" for one occurrence: the .ics download, a webcal subscription to the
    event's feed, and Google Calendar's and Outlook's "new event" pages, filled in."""

    ics: str
    webcal: str
    google: str
    outlook: str


def calendar_links(o: OccurrenceDTO) -> CalendarLinks:
    """The links for occurrence ``o`` (absolute: they leave the site)."""
    event = o.event
    public = current_platform().settings.apps["events"].public_url
    ics_url = public + url_for("public.event_ics", slug=event.slug)
    page_url = public + url_for("public.event", slug=event.slug, at=o.key)
    details = html_to_text(event.description_html)
    details = (details[:400] + "…" if len(details) > 400 else details) + f"\n\n{page_url}"
    location = ", ".join(p for p in (event.location_name, event.location_address) if p)
    if event.all_day:
        # Dates only; Google's end date is the day after the last (exclusive), Outlook's too.
        end_day = max(o.local_end.date(), o.local_start.date() + timedelta(days=1))
        google_dates = f"{o.local_start:%Y%m%d}/{end_day:%Y%m%d}"
        outlook_times = {
            "startdt": o.local_start.date().isoformat(),
            "enddt": end_day.isoformat(),
            "allday": "true",
        }
    else:
        start, end = o.start.astimezone(UTC), o.end.astimezone(UTC)
        google_dates = f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"
        outlook_times = {
            "startdt": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "enddt": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    google = "https://calendar.google.com/calendar/render?" + urlencode(
        {
            "action": "TEMPLATE",
            "text": event.title,
            "dates": google_dates,
            "details": details,
            "location": location,
            "ctz": event.timezone,
        }
    )
    outlook = "https://outlook.live.com/calendar/0/action/compose?" + urlencode(
        {
            "path": "/calendar/action/compose",
            "rru": "addevent",
            "subject": event.title,
            "body": details,
            "location": location,
            **outlook_times,
        }
    )
    webcal = "webcal://" + ics_url.split("://", 1)[-1]
    return CalendarLinks(ics=ics_url, webcal=webcal, google=google, outlook=outlook)
