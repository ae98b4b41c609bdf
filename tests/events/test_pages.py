"""The events app's pages through the app: views, booking and cancelling, the member's codes,
iCalendar downloads, the staff desk and check-in, bounded queries, and the widget inside the
blog's home page (served for real)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import icalendar
import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import Event, EventCalendar
from tests.events import factories
from tests.identity.factories import client_signed_in, make_member
from tests.support import count_statements
from tests.support.settings import TEST_INTERNAL_SECRET, AppMaker

NEXT_WEEK = (datetime.now(UTC) + timedelta(days=7)).replace(
    hour=0, minute=0, second=0, microsecond=0
)


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("events")


async def signed_in(
    app: RoseQuart, db: AsyncSession, username: str, roles: tuple[str, ...] = ()
) -> tuple[Client, int]:
    account = await make_member(db, username, roles=roles, display_name=username.title())
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    client = await client_signed_in(app, account.id, sign_in.sid)
    return client, account.id


async def csrf(client: Client, path: str) -> str:
    html = await (await client.get(path)).get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    return html.split(marker, 1)[1].split('"', 1)[0]


async def test_public_views_show_a_recurring_event_in_its_local_time(
    app: RoseQuart, db: AsyncSession
) -> None:
    local = NEXT_WEEK.replace(tzinfo=None, hour=10)
    ev = await factories.event(
        db,
        start=local,
        end=local + timedelta(hours=1),
        rrule="FREQ=WEEKLY;COUNT=6",
        title="Repair Café",
        tags=("repair",),
    )
    await db.commit()
    client = app.test_client()
    home = await (await client.get("/")).get_data(as_text=True)
    assert home.count("Repair Café") >= 5
    month = await client.get(f"/month/{local.year}/{local.month}")
    assert month.status_code == 200
    assert "Repair Café" in await month.get_data(as_text=True)
    day = await (await client.get(f"/day/{local.date().isoformat()}")).get_data(as_text=True)
    assert "10:00" in day
    assert "Repair Café" in day
    week = await client.get(f"/week/{local.date().isoformat()}?tag=repair")
    assert "Repair Café" in await week.get_data(as_text=True)
    other_tag = await client.get(f"/week/{local.date().isoformat()}?tag=nothing-here")
    assert "Repair Café" not in await other_tag.get_data(as_text=True)
    page = await client.get(f"/events/{ev.slug}")
    assert page.status_code == 200
    assert "Other dates" in await page.get_data(as_text=True)
    cal = await client.get(f"/calendars/{ev.calendar.slug}")
    assert "Repair Café" in await cal.get_data(as_text=True)
    assert (await client.get("/past")).status_code == 200
    for bad in (
        "/month/2026/13",
        "/day/not-a-day",
        "/events/nope",
        "/?calendar=Bad Slug",
        f"/events/{ev.slug}?at=garbage",
        f"/events/{ev.slug}?at=20200101T000000Z",
        "/calendars/nope/calendar.ics",
        "/feeds/unknown-token.ics",
    ):
        assert (await client.get(bad)).status_code == 404, bad


async def test_a_member_books_sees_the_qr_code_and_cancels(
    app: RoseQuart, db: AsyncSession
) -> None:
    local = NEXT_WEEK.replace(tzinfo=None, hour=18)
    ev = await factories.event(
        db, start=local, end=local + timedelta(hours=2), capacity=1, title="Soup night"
    )
    client, member = await signed_in(app, db, "sam")
    other, _ = await signed_in(app, db, "olu")
    token = await csrf(client, f"/events/{ev.slug}")
    at = ev.start.strftime("%Y%m%dT%H%M%SZ")
    resp = await client.post(
        f"/events/{ev.slug}/book", form={"csrf_token": token, "at": at, "quantity": "1"}
    )
    assert resp.status_code == 302
    assert "booked=confirmed" in resp.headers["Location"]
    token2 = await csrf(other, f"/events/{ev.slug}")
    resp = await other.post(f"/events/{ev.slug}/book", form={"csrf_token": token2, "at": at})
    assert "booked=waiting" in resp.headers["Location"]
    my = await (await client.get("/my")).get_data(as_text=True)
    assert "Soup night" in my
    assert 'src="data:image/svg+xml' in my
    assert "/feeds/" in my
    booking = (await services().events.member_bookings(db, member, ev.id))[0]
    # Another member cannot cancel it: not found.
    resp = await other.post(f"/bookings/{booking.id}/cancel", form={"csrf_token": token2})
    assert resp.status_code == 404
    resp = await client.post(f"/bookings/{booking.id}/cancel", form={"csrf_token": token})
    assert resp.status_code == 302
    assert (await services().events.member_bookings(db, member, ev.id))[0].status == "cancelled"
    # Bad input is refused and changes nothing.
    resp = await client.post(
        f"/events/{ev.slug}/book", form={"csrf_token": token, "at": at, "quantity": "lots"}
    )
    assert resp.status_code == 400
    # A visitor cannot book (refused by CSRF or by sign-in, whichever comes first).
    anon = app.test_client()
    assert (await anon.post(f"/events/{ev.slug}/book", form={"at": at})).status_code in (
        400,
        401,
        403,
    )


async def test_ics_parses_back_keeps_its_uid_across_edits_and_carries_exceptions(
    app: RoseQuart, db: AsyncSession
) -> None:
    from shared.contracts import EventInput, OccurrenceException

    local = datetime(2026, 10, 6, 10)
    ev = await factories.event(
        db, start=local, end=local + timedelta(hours=2), rrule="FREQ=WEEKLY;COUNT=8", title="Choir"
    )
    await services().events.set_exception(
        db, ev.id, OccurrenceException(ev.start + timedelta(days=7), True)
    )
    await services().events.set_exception(
        db,
        ev.id,
        OccurrenceException(
            ev.start + timedelta(days=14),
            False,
            ev.start + timedelta(days=15),
            ev.start + timedelta(days=15, hours=2),
        ),
    )
    await db.commit()
    client = app.test_client()
    first = await (await client.get(f"/events/{ev.slug}/event.ics")).get_data()
    cal = icalendar.Calendar.from_ical(first)
    vevents = cal.walk("VEVENT")
    assert len(vevents) == 2  # the series and the moved occurrence
    assert {str(v["UID"]) for v in vevents} == {ev.uid}
    series = next(v for v in vevents if "RECURRENCE-ID" not in v)
    assert series["RRULE"]["FREQ"] == ["WEEKLY"]
    assert series["DTSTART"].dt.tzinfo is not None
    assert series["DTSTART"].params["TZID"] == "Europe/London"
    assert series["DTSTART"].dt.hour == 10
    assert cal.walk("VTIMEZONE")
    assert str(cal.walk("VTIMEZONE")[0]["TZID"]) == "Europe/London"
    assert "EXDATE" in series
    assert "DTSTAMP" in series
    # An edit keeps the UID and bumps SEQUENCE.
    await services().events.save_event(
        db,
        EventInput(
            calendar_id=ev.calendar.id,
            title="Community choir",
            timezone="Europe/London",
            start_local=local,
            end_local=local + timedelta(hours=2),
            rrule="FREQ=WEEKLY;COUNT=8",
            status="published",
        ),
        event_id=ev.id,
    )
    await db.commit()
    again = icalendar.Calendar.from_ical(
        await (await client.get(f"/events/{ev.slug}/event.ics")).get_data()
    )
    edited = next(v for v in again.walk("VEVENT") if "RECURRENCE-ID" not in v)
    assert str(edited["UID"]) == ev.uid
    assert str(edited["SUMMARY"]) == "Community choir"
    assert int(edited["SEQUENCE"]) > int(series["SEQUENCE"])
    whole = icalendar.Calendar.from_ical(await (await client.get("/events.ics")).get_data())
    assert ev.uid in {str(v["UID"]) for v in whole.walk("VEVENT")}
    by_calendar = await client.get(f"/calendars/{ev.calendar.slug}/calendar.ics")
    assert by_calendar.headers["Content-Type"].startswith("text/calendar")


async def test_staff_create_an_event_and_check_a_code_in_once(
    app: RoseQuart, db: AsyncSession
) -> None:
    calendar = await factories.calendar(db)
    staff, _ = await signed_in(app, db, "stella", roles=("editor",))
    member_client, member = await signed_in(app, db, "mo")
    token = await csrf(staff, "/editor/events/new")
    local = NEXT_WEEK.replace(tzinfo=None, hour=19)
    form = {
        "csrf_token": token,
        "title": "Quiz night",
        "calendar_id": str(calendar.id),
        "timezone": "Europe/London",
        "start": local.strftime("%Y-%m-%dT%H:%M"),
        "end": (local + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "capacity": "40",
        "status": "published",
        "description_html": "<p>Teams of four<script>x</script></p>",
    }
    refused = await staff.post("/editor/events/new", form={**form, "rrule": "FREQ=SECONDLY"})
    assert refused.status_code == 400
    assert 'data-error-code="invalid_rrule"' in await refused.get_data(as_text=True)
    resp = await staff.post("/editor/events/new", form=form)
    assert resp.status_code == 302
    ev = await services().events.event_by_slug(db, "quiz-night")
    assert ev is not None
    assert ev.description_html == "<p>Teams of four</p>"
    booking = await services().events.book(db, member, ev.id, ev.start)
    await db.commit()
    assert (await staff.get(f"/editor/events/{ev.id}")).status_code == 200
    csv_resp = await staff.get(
        f"/editor/events/{ev.id}/attendees?at={ev.start:%Y%m%dT%H%M%SZ}&format=csv"
    )
    assert "Mo" in await csv_resp.get_data(as_text=True)
    first = await staff.post("/editor/check-in", form={"csrf_token": token, "code": booking.code})
    assert 'class="checkin-ok"' in await first.get_data(as_text=True)
    second = await staff.post("/editor/check-in", form={"csrf_token": token, "code": booking.code})
    assert "Already used at" in await second.get_data(as_text=True)
    unknown = await staff.post("/editor/check-in", form={"csrf_token": token, "code": "nope"})
    assert unknown.status_code == 404
    # Members are not staff.
    assert (await member_client.get("/editor/check-in")).status_code in (403, 404)


async def test_the_upcoming_list_runs_a_bounded_number_of_queries(
    app: RoseQuart, db: AsyncSession, engine: AsyncEngine
) -> None:
    client = app.test_client()
    calendar = await factories.calendar(db)

    async def add(n: int) -> None:
        for i in range(n):
            local = NEXT_WEEK.replace(tzinfo=None, hour=9) + timedelta(hours=i)
            await factories.event(
                db,
                start=local,
                end=local + timedelta(hours=1),
                calendar_id=calendar.id,
                rrule="FREQ=DAILY" if i % 2 else "",
            )
        await db.commit()

    await add(3)
    with count_statements(engine) as few:
        assert (await client.get(f"/?calendar={calendar.slug}")).status_code == 200
    await add(27)
    with count_statements(engine) as many:
        assert (await client.get(f"/?calendar={calendar.slug}")).status_code == 200
    assert len(many) == len(few), "\n".join(many)


async def test_the_blog_home_shows_the_upcoming_events_widget(
    live: object, database_url: str
) -> None:
    engine = create_async_engine(database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
            local = NEXT_WEEK.replace(tzinfo=None, hour=11)
            ev = await factories.event(
                session, start=local, end=local + timedelta(hours=1), title="Widget test seed swap"
            )
        await live.start("events")  # type: ignore[attr-defined]
        blog = await live.consumer("blog")  # type: ignore[attr-defined]
        html = await (await blog.test_client().get("/")).get_data(as_text=True)
        assert 'class="events-upcoming"' in html
        assert "Widget test seed swap" in html
        assert f"{live.url('events')}/events/{ev.slug}" in html  # type: ignore[attr-defined]
        async with httpx.AsyncClient() as http:
            assert (await http.get(live.url("events") + "/")).status_code == 200  # type: ignore[attr-defined]
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(Event).where(Event.title == "Widget test seed swap"))
            await conn.execute(
                delete(EventCalendar).where(
                    ~EventCalendar.id.in_(__import__("sqlalchemy").select(Event.calendar_id))
                )
            )
        await engine.dispose()


async def test_the_widgets_render_for_other_apps(app: RoseQuart, db: AsyncSession) -> None:
    from shared.infrastructure import internal_auth
    from shared.infrastructure.visitor import Visitor

    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    local = today.replace(tzinfo=None) + timedelta(days=1)
    ev = await factories.event(
        db, start=local, end=local + timedelta(hours=1), title="Widget night", tags=("widgets",)
    )
    await db.commit()
    client = app.test_client()

    async def fragment(type_: str, **args: str) -> str:
        path = f"/internal/fragments/{type_}"
        query, headers = internal_auth.sign(
            TEST_INTERNAL_SECRET, "GET", path, list(args.items()), Visitor()
        )
        resp = await client.get(f"{path}?{query}", headers=headers)
        assert resp.status_code == 200, type_
        return await resp.get_data(as_text=True)

    upcoming = await fragment("upcoming", tag="widgets", limit="3")
    assert "Widget night" in upcoming
    assert 'class="events-upcoming"' in upcoming
    assert "Widget night" not in await fragment("upcoming", tag="other-tag")
    card = await fragment("event-card", slug=ev.slug)
    assert "Widget night" in card
    assert "<time" in card
    assert await fragment("event-card", slug="no-such-event") == ""
    month = await fragment("calendar-month")
    assert '<table class="widget-month__grid">' in month
    # Unsigned requests to the fragments are a plain 404.
    assert (await client.get("/internal/fragments/upcoming")).status_code == 404


async def test_an_event_page_offers_add_to_calendar_and_names_its_zone(
    app: RoseQuart, db: AsyncSession
) -> None:
    """Times in the event's zone, named on its page (the site's zone is Europe/London); the
    .ics, webcal, Google and Outlook links for the occurrence shown; feeds are plain links."""
    start = datetime(NEXT_WEEK.year + 1, 7, 1, 19, 30)  # BST: 18:30 UTC
    ev = await factories.event(
        db, start=start, end=start + timedelta(hours=2), title="Summer social",
        location_name="The barn", description_html="<p>Dancing &amp; cake.</p>",
    )  # fmt: skip
    elsewhere = await factories.event(
        db, start=start, end=start + timedelta(hours=1), tz="America/New_York", title="Call"
    )
    await db.commit()
    client = app.test_client()
    html = await (await client.get(f"/events/{ev.slug}")).get_data(as_text=True)
    assert f"{start:%a} 1 Jul {start.year}, 19:30</time>\N{EN DASH}21:30 BST" in html
    public = app.extensions["rose"].settings.apps["events"].public_url
    ics = f"{public}/events/{ev.slug}/event.ics"
    host_path = ics.split("://", 1)[1]
    assert f'<a href="{ics}" download hx-boost="false">Download .ics</a>' in html
    assert f'<a href="webcal://{host_path}" hx-boost="false">Apple / webcal</a>' in html
    google = html.split('href="https://calendar.google.com/calendar/render?', 1)[1].split('"')[0]
    assert f"dates={start.year}0701T183000Z%2F{start.year}0701T203000Z" in google
    assert "text=Summer+social" in google
    assert "location=The+barn" in google
    assert "Dancing+%26+cake" in google  # the description as text, not HTML
    outlook = html.split('href="https://outlook.live.com/calendar/0/action/compose?', 1)[1]
    assert f"startdt={start.year}-07-01T18%3A30%3A00Z" in outlook.split('"')[0]
    # Another zone than the site's is named wherever its times are shown.
    other = await (await client.get(f"/events/{elsewhere.slug}")).get_data(as_text=True)
    assert "19:30</time>\N{EN DASH}20:30 EDT (America/New_York)" in other
    # Feeds: plain links, and a webcal:// one to subscribe.
    listing = await (await client.get("/")).get_data(as_text=True)
    assert '<a href="/events.ics" hx-boost="false" download>iCalendar feed</a>' in listing
    assert f'<a href="webcal://{public.split("://", 1)[1]}/events.ics"' in listing


async def test_a_boosted_request_for_a_feed_becomes_a_plain_navigation(
    app: RoseQuart, db: AsyncSession
) -> None:
    """htmx would swap a boosted answer into the page: a feed would blank it. The server tells
    htmx to load it as a plain navigation instead (HX-Redirect), which downloads it."""
    client = app.test_client()
    boosted = {"HX-Request": "true", "HX-Boosted": "true"}
    resp = await client.get("/events.ics?x=1", headers=boosted)
    assert resp.status_code == 200
    assert resp.headers["HX-Redirect"] == "/events.ics?x=1"
    assert "Content-Disposition" not in resp.headers
    assert await resp.get_data() == b""
    plain = await client.get("/events.ics")
    assert plain.mimetype == "text/calendar"
    assert plain.headers["Content-Disposition"] == 'attachment; filename="events.ics"'
    # A boosted page is answered as before.
    page = await client.get("/", headers=boosted)
    assert "HX-Redirect" not in page.headers
    assert page.mimetype == "text/html"
