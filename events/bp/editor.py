"""Staff manage events at ``/editor`` (editors and admins): calendars, events and their
repeat rules, cancelled or moved occurrences, ticket types, attendee lists (CSV too) and the
check-in page. tests/infrastructure/test_auth.py checks the editor role on every ``/editor`` route.
A refused change re-renders its form with the error and writes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from quart import Blueprint, Response, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from events.bp._common import occurrence_key
from shared.contracts import (
    EVENT_CATEGORIES,
    CalendarInput,
    EventInput,
    OccurrenceException,
    TicketTypeInput,
)
from shared.contracts.errors import InvalidEvent
from shared.errors import DomainError, FieldErrors, NotFound, field_errors
from shared.infrastructure import auth, inputs
from shared.infrastructure.context import db_session, services
from shared.infrastructure.csvfile import write_csv
from shared.infrastructure.fragments import invalidate_after_commit, render_page
from shared.services.events import recurrence as rec

bp = Blueprint("editor", __name__, url_prefix="/editor")

WIDGETS = ("events/upcoming", "events/calendar-month", "events/event-card")


def _changed() -> None:
    """Other apps' event widgets show the change once it is committed."""
    for fragment_id in WIDGETS:
        invalidate_after_commit(db_session(), fragment_id)


def _int_or_none(
    form: MultiDict[str, str], name: str, checks: FieldErrors | None = None
) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    value = inputs.parse_int(raw, minimum=-999_999_999, maximum=999_999_999)
    if value is None:
        err = InvalidEvent("invalid_number", "Give a whole number.", name)
        if checks is None:
            raise err
        checks.note(err)
    return value


def _local(form: MultiDict[str, str], name: str) -> datetime:
    moment = inputs.parse_datetime(form.get(name, "").strip())
    if moment is None:
        raise InvalidEvent("invalid_time", "Give a date and time.", name)
    return moment.replace(tzinfo=None, second=0, microsecond=0)


def _event_input(form: MultiDict[str, str], checks: FieldErrors) -> EventInput:
    """The form as the service's input; what cannot be read is noted in ``checks`` and
    stands in as a harmless value, so the service still checks every other field."""
    start = end = None
    with checks:
        start = _local(form, "start")
    with checks:
        end = _local(form, "end")
    if start is None:
        start = (end or datetime(2000, 1, 1, 12)) - timedelta(hours=1)
    if end is None:
        end = start + timedelta(hours=1)
    return EventInput(
        calendar_id=_int_or_none(form, "calendar_id", checks) or 0,
        title=form.get("title", ""),
        timezone=form.get("timezone", ""),
        start_local=start,
        end_local=end,
        slug=form.get("slug", ""),
        description_html=form.get("description_html", ""),
        image_url=form.get("image_url") or None,
        all_day=form.get("all_day") == "on",
        rrule=form.get("rrule", ""),
        location_name=form.get("location_name", ""),
        location_address=form.get("location_address", ""),
        map_url=form.get("map_url") or None,
        organiser=form.get("organiser", ""),
        capacity=_int_or_none(form, "capacity", checks),
        per_person_limit=_int_or_none(form, "per_person_limit", checks) or 4,
        status=form.get("status", "draft"),
        tags=tuple(t.strip() for t in form.get("tags", "").split(",") if t.strip()),
    )


@bp.get("/")
@auth.require_role("editor")
async def desk() -> str:
    """Every event and calendar."""
    session = db_session()
    return await render_page(
        "editor/desk.html",
        events=await services().events.staff_events(session),
        calendars=await services().events.calendars(session),
    )


async def _event_form(
    event_id: int | None, form: Any = None, error: Any = None, prefix: str = ""
) -> Any:
    """The event's page of forms; a refusal of one of its smaller forms (``prefix`` "oc-"
    for an occurrence, "tt-" for a ticket type) names that form's fields."""
    session = db_session()
    event = await services().events.get_event(session, event_id) if event_id else None
    if event_id and event is None:
        raise NotFound("event_not_found", "No such event.")
    body = await render_page(
        "editor/event_form.html",
        event=event,
        form=form,
        error=error,
        errors={prefix + name: message for name, message in field_errors(error).items()},
        calendars=await services().events.calendars(session),
        timezones=rec.timezone_names(),
        exceptions=await services().events.exceptions(session, event_id) if event_id else [],
        ticket_types=await services().events.ticket_types(session, event_id) if event_id else [],
    )
    return (body, error.status) if error is not None else body


@bp.get("/events/new")
@auth.require_role("editor")
async def new_event() -> Any:
    return await _event_form(None)


@bp.get("/events/<int:event_id>")
@auth.require_role("editor")
async def edit_event(event_id: int) -> Any:
    return await _event_form(event_id)


@bp.post("/events/new")
@bp.post("/events/<int:event_id>")
@auth.require_role("editor")
async def save_event(event_id: int | None = None) -> Any:
    form = await request.form
    user = auth.current_user()
    checks = FieldErrors()
    data = _event_input(form, checks)
    try:
        # The service checks every field too: both lists of problems show at once.
        saved = await services().events.save_event(
            db_session(), data, event_id=event_id, actor_user_id=user.id if user else None
        )
        checks.raise_if_any()
    except DomainError as err:
        await db_session().rollback()
        return await _event_form(event_id, form, checks.refused(err))
    _changed()
    return redirect(url_for("editor.edit_event", event_id=saved.id))


@bp.post("/events/<int:event_id>/occurrences")
@auth.require_role("editor")
async def change_occurrence(event_id: int) -> Any:
    """Cancel one occurrence, or move it to new times (in the event's zone)."""
    form = await request.form
    user = auth.current_user()
    svc, session = services().events, db_session()
    try:
        event = await svc.get_event(session, event_id)
        if event is None:
            raise NotFound("event_not_found", "No such event.")
        key = occurrence_key(form.get("at", ""))
        if key is None:
            raise InvalidEvent("not_an_occurrence", "Choose a date.", "occurrence")
        if form.get("action") == "cancel":
            change = OccurrenceException(key, True)
        else:
            tz = rec.zone(event.timezone)
            change = OccurrenceException(
                key,
                False,
                rec.to_utc(_local(form, "new_start"), tz),
                rec.to_utc(_local(form, "new_end"), tz),
            )
        await svc.set_exception(session, event_id, change, actor_user_id=user.id if user else None)
    except InvalidEvent as err:
        await session.rollback()
        if err.field in ("start", "end"):
            err.field = f"new_{err.field}"  # the new times of the occurrence
        return await _event_form(event_id, None, err, "oc-")
    _changed()
    return redirect(url_for("editor.edit_event", event_id=event_id))


@bp.post("/events/<int:event_id>/ticket-types")
@auth.require_role("editor")
async def add_ticket_type(event_id: int) -> Any:
    """A ticket type for one occurrence; the price is given in minor units (pence)."""
    form = await request.form
    user = auth.current_user()
    session = db_session()
    try:
        key = occurrence_key(form.get("at", ""))
        price = _int_or_none(form, "price_minor")
        if key is None or price is None:
            raise InvalidEvent("invalid_ticket_type", "Choose a date and a price.", "price")
        await services().events.add_ticket_type(
            session,
            event_id,
            TicketTypeInput(
                name=form.get("name", ""),
                occurrence_start=key,
                price_minor=price,
                currency=form.get("currency", "GBP").upper(),
                capacity=_int_or_none(form, "capacity"),
            ),
            actor_user_id=user.id if user else None,
        )
    except InvalidEvent as err:
        await session.rollback()
        if err.field == "price_minor":
            err.field = "price"
        return await _event_form(event_id, None, err, "tt-")
    return redirect(url_for("editor.edit_event", event_id=event_id))


@bp.get("/calendars/new")
@bp.get("/calendars/<int:calendar_id>")
@auth.require_role("editor")
async def calendar_form(calendar_id: int | None = None, form: Any = None, error: Any = None) -> Any:
    calendars = await services().events.calendars(db_session())
    calendar = next((c for c in calendars if c.id == calendar_id), None)
    if calendar_id is not None and calendar is None:
        raise NotFound("calendar_not_found", "No such calendar.")
    body = await render_page(
        "editor/calendar_form.html",
        calendar=calendar,
        form=form,
        error=error,
        errors=field_errors(error),
        timezones=rec.timezone_names(),
        categories=EVENT_CATEGORIES,
    )
    return (body, error.status) if error is not None else body


@bp.post("/calendars/new")
@bp.post("/calendars/<int:calendar_id>")
@auth.require_role("editor")
async def save_calendar(calendar_id: int | None = None) -> Any:
    form = await request.form
    user = auth.current_user()
    try:
        await services().events.save_calendar(
            db_session(),
            CalendarInput(
                name=form.get("name", ""),
                timezone=form.get("timezone", ""),
                slug=form.get("slug", ""),
                colour=form.get("colour", "#7a3b69"),
                description=form.get("description", ""),
                category=form.get("category", "MEETING"),
            ),
            calendar_id=calendar_id,
            actor_user_id=user.id if user else None,
        )
    except DomainError as err:
        await db_session().rollback()
        return await calendar_form(calendar_id, form, err)
    _changed()
    return redirect(url_for("editor.desk"))


@bp.get("/events/<int:event_id>/attendees")
@auth.require_role("editor")
async def attendees(event_id: int) -> Any:
    """Who comes to one occurrence (``?at=``); ``?format=csv`` downloads the list."""
    svc, session = services().events, db_session()
    event = await svc.get_event(session, event_id)
    key = occurrence_key(request.args.get("at") or "")
    if event is None or key is None:
        raise NotFound("event_not_found", "No such event or date.")
    people = await svc.attendees(session, event_id, key)
    if request.args.get("format") == "csv":
        text = write_csv(
            ["kind", "name", "email", "places", "status", "ticket type", "code", "checked in at"],
            (
                [a.kind, a.name, a.email, a.quantity, a.status, a.ticket_type or "", a.code,
                 a.checked_in_at.isoformat() if a.checked_in_at else ""]
                for a in people
            ),
        )  # fmt: skip
        response = Response(text, mimetype="text/csv")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{event.slug}-{request.args["at"]}.csv"'
        )
        return response
    return await render_page(
        "editor/attendees.html", event=event, key=request.args["at"], people=people
    )


@bp.get("/check-in")
@auth.require_role("editor")
async def check_in_page() -> str:
    """The check-in page: a code field a phone's keyboard or scanner fills in."""
    return await render_page("editor/check_in.html", result=None, error=None)


@bp.post("/check-in")
@auth.require_role("editor")
async def check_in() -> Any:
    form = await request.form
    user = auth.current_user()
    try:
        result = await services().events.check_in(
            db_session(), form.get("code", ""), actor_user_id=user.id if user else None
        )
    except DomainError as err:
        # One field: its problem shows beside it.
        errors = field_errors(err) or {"code": err.message}
        body = await render_page("editor/check_in.html", result=None, error=err, errors=errors)
        return body, err.status
    return await render_page("editor/check_in.html", result=result, error=None)
