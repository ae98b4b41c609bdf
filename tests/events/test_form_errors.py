"""Every events form shows all its problems at once, each beside its field (``_forms.html``),
answers 4xx and changes nothing: the staff's event, calendar and check-in forms, a member's
booking and a guest's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import Event, EventBooking, EventCalendar
from tests.events import factories
from tests.events.test_pages import csrf, signed_in
from tests.support import csrf_in, errors_beside_fields
from tests.support.settings import AppMaker

NEXT_WEEK = (datetime.now(UTC) + timedelta(days=7)).replace(
    hour=18, minute=0, second=0, microsecond=0, tzinfo=None
)


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("events")


async def test_the_event_form_shows_every_problem_beside_its_field(
    app: RoseQuart, db: AsyncSession
) -> None:
    calendar = await factories.calendar(db)
    staff, _ = await signed_in(app, db, "stella", roles=("editor",))
    token = await csrf(staff, "/editor/events/new")
    before = await db.scalar(select(func.count()).select_from(Event))
    resp = await staff.post(
        "/editor/events/new",
        form={
            "csrf_token": token,
            "title": "  ",
            "calendar_id": str(calendar.id),
            "timezone": "Europe/London",
            "start": "soon",
            "end": NEXT_WEEK.strftime("%Y-%m-%dT%H:%M"),
            "capacity": "-5",
            "per_person_limit": "99",
            "slug": "Not A Slug",
            "map_url": "ftp://maps",
            "status": "draft",
        },
    )
    assert resp.status_code == 400
    errors = errors_beside_fields(await resp.get_data(as_text=True))
    assert set(errors) == {
        "title",
        "start",
        "capacity",
        "per_person_limit",
        "slug",
        "map_url",
    }
    assert await db.scalar(select(func.count()).select_from(Event)) == before


async def test_the_calendar_form_and_check_in_show_their_problems_beside_the_fields(
    app: RoseQuart, db: AsyncSession
) -> None:
    staff, _ = await signed_in(app, db, "stella", roles=("editor",))
    token = await csrf(staff, "/editor/calendars/new")
    resp = await staff.post(
        "/editor/calendars/new",
        form={"csrf_token": token, "name": "", "colour": "red", "slug": "Bad Slug",
              "timezone": "Mars/Olympus", "category": "RAVES"},
    )  # fmt: skip
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {
        "name",
        "colour",
        "slug",
        "timezone",
        "category",
    }
    assert await db.scalar(select(func.count()).select_from(EventCalendar)) == 0
    resp = await staff.post("/editor/check-in", form={"csrf_token": token, "code": "nope"})
    assert resp.status_code == 404
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"code"}


async def test_a_members_refused_booking_shows_beside_the_number_of_places(
    app: RoseQuart, db: AsyncSession
) -> None:
    ev = await factories.event(
        db, start=NEXT_WEEK, end=NEXT_WEEK + timedelta(hours=2), per_person_limit=2
    )
    client, _ = await signed_in(app, db, "sam")
    token = await csrf(client, f"/events/{ev.slug}")
    at = ev.start.strftime("%Y%m%dT%H%M%SZ")
    for quantity in ("5", "lots"):
        resp = await client.post(
            f"/events/{ev.slug}/book", form={"csrf_token": token, "at": at, "quantity": quantity}
        )
        assert resp.status_code == 400
        html = await resp.get_data(as_text=True)
        assert set(errors_beside_fields(html)) == {"quantity"}
        assert f'value="{quantity}"' in html  # what was typed stays
        assert "<header" in html  # the event's own page, with the site's header
    assert await db.scalar(select(func.count()).where(EventBooking.event_id == ev.id)) == 0


async def test_a_guests_refused_booking_shows_every_problem_beside_its_field(
    app: RoseQuart, db: AsyncSession
) -> None:
    ev = await factories.event(
        db, start=NEXT_WEEK, end=NEXT_WEEK + timedelta(hours=2), per_person_limit=2
    )
    await db.commit()
    client = app.test_client()
    at = ev.start.strftime("%Y%m%dT%H%M%SZ")
    page = await client.get(f"/events/{ev.slug}/guest?at={at}")
    resp = await client.post(
        f"/events/{ev.slug}/guest",
        form={"csrf_token": csrf_in(await page.get_data(as_text=True)), "at": at,
              "name": " ", "email": "not-an-address", "quantity": "9"},
    )  # fmt: skip
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {
        "name",
        "email",
        "quantity",
    }
    assert await db.scalar(select(func.count()).where(EventBooking.event_id == ev.id)) == 0


async def test_the_occurrence_and_ticket_type_forms_show_their_problems_beside_their_fields(
    app: RoseQuart, db: AsyncSession
) -> None:
    ev = await factories.event(db, start=NEXT_WEEK, end=NEXT_WEEK + timedelta(hours=2))
    staff, _ = await signed_in(app, db, "stella", roles=("editor",))
    path = f"/editor/events/{ev.id}"
    token = await csrf(staff, path)
    resp = await staff.post(
        f"{path}/ticket-types",
        form={"csrf_token": token, "name": " ", "at": "20000101T000000Z", "price_minor": "-1",
              "capacity": "-3"},
    )  # fmt: skip
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {
        "tt-name",
        "tt-price",
        "tt-capacity",
        "tt-occurrence",
    }
    assert await services().events.ticket_types(db, ev.id) == []
    resp = await staff.post(
        f"{path}/occurrences",
        form={"csrf_token": token, "at": ev.start.strftime("%Y%m%dT%H%M%SZ"),
              "action": "move", "new_start": "later", "new_end": ""},
    )  # fmt: skip
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"oc-new_start"}
