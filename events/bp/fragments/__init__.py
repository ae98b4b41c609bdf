"""The events app's fragments for the other apps' pages: ``events/upcoming`` (the next N
events, optionally of one calendar or tag), ``events/calendar-month`` (this month as a small
grid) and ``events/event-card`` (one event by slug). The same for everyone (never per user)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from quart import render_template

from events.bp._common import day_window, display_tz, month_grid
from shared.infrastructure import inputs
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRequest, FragmentSet
from shared.infrastructure.sanitize import SLUG_RE

fragments = FragmentSet("events")


def _slug(raw: str | None) -> str | None:
    return raw if raw and SLUG_RE.match(raw) and len(raw) <= 180 else None


@fragments.fragment("upcoming", ttl_s=120, per_user=False)
async def upcoming(req: FragmentRequest) -> str:
    raw = req.args.get("count") or req.args.get("limit", "5")
    limit = min(inputs.parse_int(raw) or 5, 20)
    found = await services().events.upcoming(
        db_session(),
        limit=limit,
        calendar_slug=_slug(req.args.get("calendar")),
        tag=_slug(req.args.get("tag")),
    )
    return await render_template("fragments/upcoming.html", occurrences=found)


@fragments.fragment("calendar-month", ttl_s=300, per_user=False)
async def calendar_month(req: FragmentRequest) -> str:
    today = datetime.now(ZoneInfo(display_tz())).date()
    first = date(today.year, today.month, 1)
    following = (first + timedelta(days=32)).replace(day=1)
    start, end = day_window(first, (following - first).days, display_tz())
    calendar = _slug(req.args.get("calendar"))
    found = await services().events.occurrences(db_session(), start, end, calendar_slug=calendar)
    return await render_template(
        "fragments/calendar_month.html",
        first=first,
        weeks=month_grid(first.year, first.month, found),
        today=today,
    )


@fragments.fragment("event-card", ttl_s=300, per_user=False)
async def event_card(req: FragmentRequest) -> str:
    slug = _slug(req.args.get("slug") or req.args.get("event"))
    event = await services().events.event_by_slug(db_session(), slug) if slug else None
    if event is None:
        return ""
    now = datetime.now(UTC)
    found = await services().events.occurrences(
        db_session(), now, now + timedelta(days=366), event_id=event.id
    )
    nxt = found[0] if found else None
    return await render_template("fragments/event_card.html", event=event, occurrence=nxt)
