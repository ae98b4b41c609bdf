"""What the events app's routes share: filters, the month grid, occurrence keys, caching."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import segno
from quart import Response, request

from shared.contracts import OccurrenceDTO
from shared.errors import NotFound
from shared.infrastructure.auth import current_user
from shared.infrastructure.fragments import render_page
from shared.infrastructure.sanitize import SLUG_RE
from shared.services.events import recurrence as rec

# The venue's zone: month and day views without a calendar filter are laid out in it.
DISPLAY_TZ = "Europe/London"


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
