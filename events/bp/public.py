"""The public events pages: upcoming, month, day and week views, the archive, calendars, an
event with its booking form, and the iCalendar feeds. Every view works without JavaScript.
Anonymous visitors get the pages from the full-page cache until an events write (a booking
too: the places shown change) or a shown fragment outdates them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from quart import Blueprint, Response, redirect, request, url_for

from events.bp._common import (
    calendar_links,
    day_window,
    display_tz,
    events_page,
    filters,
    ics_response,
    month_grid,
    occurrence_key,
    personalised,
    qr_data_uri,
)
from shared.contracts import ApObjectDTO
from shared.contracts.errors import InvalidEvent
from shared.errors import DomainError, NotFound, field_errors
from shared.infrastructure import auth, inputs
from shared.infrastructure.activitypub.negotiation import activitypub_object
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import invalidate_after_commit
from shared.infrastructure.memberframe import member_frame
from shared.infrastructure.pagecache import cacheable_page
from shared.infrastructure.ratelimit import rate_limited

bp = Blueprint("public", __name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def _zone_for(calendar: str | None) -> str:
    if calendar is None:
        return display_tz()
    found = await services().events.calendar_by_slug(db_session(), calendar)
    if found is None:
        raise NotFound("calendar_not_found", "There is no such calendar.")
    return found.timezone


@bp.get("/")
@cacheable_page("events")
@member_frame("events")
async def upcoming() -> Response:
    """What's on next (optionally of one calendar or tag)."""
    f = filters()
    await _zone_for(f.calendar)
    found = await services().events.upcoming(
        db_session(), limit=30, calendar_slug=f.calendar, tag=f.tag
    )
    calendars = await services().events.calendars(db_session())
    today = datetime.now(ZoneInfo(display_tz()))
    return await events_page(
        "list.html",
        heading="Events",
        occurrences=found,
        filters=f,
        calendars=calendars,
        month_link=url_for("public.month", year=today.year, month=today.month, **f.query()),
        view="upcoming",
    )


@bp.get("/past")
@cacheable_page("events")
@member_frame("events")
async def past() -> Response:
    """The archive: events that have ended, latest first."""
    f = filters()
    await _zone_for(f.calendar)
    found = await services().events.past(db_session(), calendar_slug=f.calendar, tag=f.tag)
    return await events_page(
        "list.html", heading="Past events", occurrences=found, filters=f, view="past"
    )


@bp.get("/month")
async def this_month() -> Any:
    today = datetime.now(ZoneInfo(display_tz()))
    return redirect(
        url_for("public.month", year=today.year, month=today.month, **filters().query())
    )


@bp.get("/month/<int:year>/<int:month>")
@cacheable_page("events")
@member_frame("events")
async def month(year: int, month: int) -> Response:
    """A month as a calendar: a seven-column grid of days with the events as chips in their
    calendar's colour, and the same days as an agenda list (shown instead on a phone)."""
    if not (1 <= month <= 12 and 1970 <= year <= 2200):
        raise NotFound("month_out_of_range", "There is no such month.")
    f = filters()
    tz = await _zone_for(f.calendar)
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    start, end = day_window(first, (following - first).days, tz)
    found = await services().events.occurrences(
        db_session(), start, end, calendar_slug=f.calendar, tag=f.tag
    )
    previous = first - timedelta(days=1)
    return await events_page(
        "month.html",
        first=first,
        weeks=month_grid(year, month, found),
        today=datetime.now(ZoneInfo(tz)).date(),
        any_events=bool(found),
        filters=f,
        prev_link=url_for("public.month", year=previous.year, month=previous.month, **f.query()),
        next_link=url_for("public.month", year=following.year, month=following.month, **f.query()),
    )


def _parse_day(raw: str) -> date:
    day = inputs.parse_date(raw)
    if day is None:
        raise NotFound("day_not_found", "There is no such day.")
    return day


@bp.get("/day/<raw>")
@cacheable_page("events")
@member_frame("events")
async def day(raw: str) -> Response:
    """One day's events."""
    return await _days(_parse_day(raw), 1)


@bp.get("/week/<raw>")
@cacheable_page("events")
@member_frame("events")
async def week(raw: str) -> Response:
    """Seven days from a day."""
    return await _days(_parse_day(raw), 7)


async def _days(first: date, count: int) -> Response:
    f = filters()
    tz = await _zone_for(f.calendar)
    start, end = day_window(first, count, tz)
    found = await services().events.occurrences(
        db_session(), start, end, calendar_slug=f.calendar, tag=f.tag
    )
    span = "day" if count == 1 else "week"
    step = timedelta(days=count)
    heading = (
        first.strftime("%A %-d %B %Y") if count == 1 else f"Week of {first.strftime('%-d %B %Y')}"
    )
    return await events_page(
        "list.html",
        heading=heading,
        occurrences=found,
        filters=f,
        view=span,
        prev_link=url_for(f"public.{span}", raw=(first - step).isoformat(), **f.query()),
        next_link=url_for(f"public.{span}", raw=(first + step).isoformat(), **f.query()),
    )


@bp.get("/calendars/<slug>")
@cacheable_page("events")
@member_frame("events")
async def calendar(slug: str) -> Response:
    """A calendar: its description and what's on next in it."""
    found = await services().events.calendar_by_slug(db_session(), slug)
    if found is None:
        raise NotFound("calendar_not_found", "There is no such calendar.")
    occurrences = await services().events.upcoming(db_session(), limit=30, calendar_slug=slug)
    return await events_page("calendar.html", calendar=found, occurrences=occurrences)


async def _ap_event(slug: str) -> ApObjectDTO | None:
    """The event's object; of a recurring event, the occurrence ``?at=`` names (or the next)."""
    at = occurrence_key(request.args.get("at"))
    return await services().events.activitypub_object(db_session(), slug, at=at)


@bp.get("/events/<slug>")
@activitypub_object(_ap_event)
@cacheable_page("events")
async def event(slug: str) -> Response:
    """An event: the chosen occurrence (``?at=``) or the next one, its places, the member's
    bookings, ticket types, and the other dates of a repeating event."""
    return await _event_page(slug, request.args.get("at"))


async def _event_page(
    slug: str, at: str | None, error: DomainError | None = None, form: Any = None
) -> Response:
    """The event's page; after a refused booking, with its problems beside the fields."""
    user = auth.current_user()
    staff = user is not None and user.has_role("editor")
    svc, session = services().events, db_session()
    found = await svc.event_by_slug(session, slug, include_drafts=staff)
    if found is None:
        raise NotFound("event_not_found", "There is no such event.")
    key = occurrence_key(at)
    now = _now()
    dates = (
        await svc.occurrences(session, now, now + timedelta(days=120), event_id=found.id)
        if found.status != "draft"
        else []
    )
    if key is not None:
        chosen = await svc.occurrence(session, found, key)
        if chosen is None:
            raise NotFound("occurrence_not_found", "The event does not happen then.")
    elif dates:
        chosen = dates[0]
    else:
        chosen = await svc.occurrence(session, found, found.start)
    places = await svc.availability(session, found, chosen.occurrence_start) if chosen else None
    tickets = await svc.ticket_types(session, found.id, chosen.occurrence_start) if chosen else []
    mine = await svc.member_bookings(session, user.id, found.id) if user is not None else []
    response = await events_page(
        "event.html",
        event=found,
        chosen=chosen,
        dates=dates[:12],
        places=places,
        tickets=tickets,
        mine=[b for b in mine if b.status != "cancelled"],
        now=now,
        error=error,
        errors=field_errors(error),
        form=form or {},
        add_to_calendar=calendar_links(chosen) if chosen else None,
    )
    if error is not None:
        response.status_code = error.status
    return response


@bp.post("/events/<slug>/book")
@auth.login_required
async def book(slug: str) -> Any:
    """Book free places of one occurrence (or join its waiting list)."""
    user = auth.current_user()
    assert user is not None
    form = await request.form
    svc, session = services().events, db_session()
    found = await svc.event_by_slug(session, slug)
    if found is None:
        raise NotFound("event_not_found", "There is no such event.")
    key = occurrence_key(form.get("at") or "")
    if key is None:
        raise DomainError("invalid_booking", "Choose a date.")
    quantity = inputs.parse_int(form.get("quantity", "1"), minimum=0, maximum=999)
    try:
        if quantity is None:
            raise InvalidEvent("invalid_booking", "Give a number of places.", "quantity")
        booking = await svc.book(session, user.id, found.id, key, quantity)
    except DomainError as err:
        # Refused (a number out of range, over the limit, already started): the event's page
        # again, the problem beside the number of places; nothing was booked.
        await session.rollback()
        if err.status == 404:
            raise
        return personalised(await _event_page(slug, form.get("at"), err, form))
    invalidate_after_commit(session, "events/upcoming")
    return redirect(url_for("public.event", slug=slug, at=booking_key(booking.occurrence_start),
                            booked=booking.status))  # fmt: skip


def booking_key(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


@bp.post("/bookings/<int:booking_id>/cancel")
@auth.login_required
async def cancel(booking_id: int) -> Any:
    """Cancel one's own booking; freed places go to the waiting list, who are emailed."""
    user = auth.current_user()
    assert user is not None
    await services().events.cancel_booking(db_session(), user.id, booking_id)
    return redirect(url_for("public.my_bookings"))


# -- guests' bookings (free events; confirmed through a signed link emailed to them) --


async def _guest_occurrence(slug: str, raw_at: str | None) -> tuple[Any, Any]:
    svc, session = services().events, db_session()
    found = await svc.event_by_slug(session, slug)
    if found is None or found.status != "published":
        raise NotFound("event_not_found", "There is no such event.")
    key = occurrence_key(raw_at or "")
    chosen = await svc.occurrence(session, found, key) if key is not None else None
    if chosen is None:
        raise NotFound("occurrence_not_found", "The event does not happen then.")
    return found, chosen


@bp.get("/events/<slug>/guest")
async def guest_form(slug: str) -> Response:
    """Book free places without an account: name and email, confirmed by email."""
    found, chosen = await _guest_occurrence(slug, request.args.get("at"))
    places = await services().events.availability(db_session(), found, chosen.occurrence_start)
    return personalised(
        await events_page(
            "guest_booking.html", mode="form", event=found, chosen=chosen, places=places,
            form={}, error=None,
        )
    )  # fmt: skip


@bp.post("/events/<slug>/guest")
@rate_limited("subscribe", account_field="email")
async def guest_book(slug: str) -> Any:
    """A guest's request: a pending booking and an email with the link that confirms it."""
    form = await request.form
    found, chosen = await _guest_occurrence(slug, form.get("at"))
    session = db_session()
    quantity = inputs.parse_int(form.get("quantity", "1"), minimum=0, maximum=999)
    try:
        if quantity is None:
            raise InvalidEvent("invalid_booking", "Give a number of places.", "quantity")
        await services().events.request_guest_booking(
            session,
            found.id,
            chosen.occurrence_start,
            name=form.get("name", ""),
            email=form.get("email", ""),
            quantity=quantity,
        )
    except DomainError as err:
        await session.rollback()
        places = await services().events.availability(session, found, chosen.occurrence_start)
        body = await events_page(
            "guest_booking.html", mode="form", event=found, chosen=chosen, places=places,
            form=form, error=err, errors=field_errors(err),
        )  # fmt: skip
        body.status_code = err.status
        return personalised(body)
    return personalised(
        await events_page("guest_booking.html", mode="sent", event=found, chosen=chosen)
    )


async def _guest_page(mode: str, token: str, action: str, **context: Any) -> Response:
    booking, found = await services().events.guest_booking(db_session(), token, action)
    chosen = await services().events.occurrence(db_session(), found, booking.occurrence_start)
    response = await events_page(
        "guest_booking.html", mode=mode, event=found, chosen=chosen, booking=booking, **context
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/guest-bookings/confirm/<token>")
async def guest_confirm_page(token: str) -> Response:
    """The confirmation link asks before acting (mail scanners fetch links)."""
    return await _guest_page("confirm", token, "confirm")


@bp.post("/guest-bookings/confirm/<token>")
async def guest_confirm(token: str) -> Response:
    booking = await services().events.confirm_guest_booking(db_session(), token)
    invalidate_after_commit(db_session(), "events/upcoming")
    qr = qr_data_uri(booking.code) if booking.status == "confirmed" else None
    return await _guest_page("confirmed", token, "confirm", qr=qr)


@bp.get("/guest-bookings/cancel/<token>")
async def guest_cancel_page(token: str) -> Response:
    return await _guest_page("cancel", token, "cancel")


@bp.post("/guest-bookings/cancel/<token>")
async def guest_cancel(token: str) -> Response:
    await services().events.cancel_guest_booking(db_session(), token)
    invalidate_after_commit(db_session(), "events/upcoming")
    return await _guest_page("cancelled", token, "cancel")


@bp.get("/my")
@auth.login_required
async def my_bookings() -> Response:
    """The member's upcoming bookings and tickets, with their codes and private feed."""
    user = auth.current_user()
    assert user is not None
    session = db_session()
    entries = await services().events.member_upcoming(session, user.id)
    token = await services().events.feed_token(session, user.id)
    return personalised(
        await events_page(
            "my.html",
            entries=entries,
            feed_url=url_for("public.member_feed", token=token, _external=True),
        )
    )


# -- iCalendar --


@bp.get("/events.ics")
async def all_feed() -> Response:
    body = await services().events.ical(db_session())
    assert body is not None
    return ics_response(body, "events.ics")


@bp.get("/calendars/<slug>/calendar.ics")
async def calendar_feed(slug: str) -> Response:
    body = await services().events.ical(db_session(), calendar_slug=slug)
    if body is None:
        raise NotFound("calendar_not_found", "There is no such calendar.")
    return ics_response(body, f"{slug}.ics")


@bp.get("/events/<slug>/event.ics")
async def event_ics(slug: str) -> Response:
    """The "add to calendar" download of one event."""
    body = await services().events.ical(db_session(), event_slug=slug)
    if body is None:
        raise NotFound("event_not_found", "There is no such event.")
    return ics_response(body, f"{slug}.ics")


@bp.get("/feeds/<token>.ics")
async def member_feed(token: str) -> Response:
    """A member's booked events, behind their unguessable token."""
    if len(token) > 64:
        raise NotFound("feed_not_found", "There is no such feed.")
    body = await services().events.ical(db_session(), feed_token=token)
    if body is None:
        raise NotFound("feed_not_found", "There is no such feed.")
    response = ics_response(body, "my-events.ics")
    response.headers["Cache-Control"] = "private, no-store"
    return response
