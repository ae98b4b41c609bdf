"""What a stranger sends is refused at the edge (shared/infrastructure/inputs.py): integers past
bigint, NUL bytes, dates at the ends of the calendar and JSON nested thousands deep each get a
4xx, and nothing changes. The exact requests an outside probe answered with 500; the walk over
every route is tests/test_route_walker.py."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure import inputs
from shared.infrastructure.csrf import HEADER, SESSION_KEY
from shared.infrastructure.factory import RoseQuart
from shared.models import EventBooking
from tests.events import factories as event_factories
from tests.identity.factories import signed_in
from tests.support.settings import AppMaker

HTML = {"Accept": "text/html"}
# Twice Python's recursion limit, and still under the SumUp webhook's 4 KiB.
DEEP_LIST = ("[" * 2000 + "]" * 2000).encode()
DEEP_OBJECT = ('{"a":' * 4000 + "1" + "}" * 4000).encode()


async def with_token(client: Client, app: RoseQuart, name: str) -> dict[str, str]:
    """Headers that pass CSRF for ``client`` (so what is refused is refused for its input)."""
    async with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = "walker-token"
    origin = app.extensions["rose"].settings.apps[name].public_url
    return {**HTML, HEADER: "walker-token", "Origin": origin}


# --- integers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/orders/99999999999999999999",
        "/orders/9223372036854775808",
        "/orders/9223372036854775808/receipt",
        "/orders/" + "9" * 5000,
    ],
)
async def test_an_id_beyond_bigint_is_not_found(make_app: AppMaker, path: str) -> None:
    app = await make_app("cart")
    resp = await app.test_client().get(path)
    assert resp.status_code == 404


async def test_the_largest_bigint_is_still_an_id(make_app: AppMaker) -> None:
    app = await make_app("cart")
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/orders/9223372036854775807") == (
        "orders.show",
        {"order_id": inputs.INT64_MAX},
    )
    resp = await app.test_client().get("/orders/9223372036854775807")
    assert resp.status_code == 404


async def test_cursors_and_pages_beyond_bigint_are_refused(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    anonymous = app.test_client()
    for path in (
        "/ap/users/federation/outbox?page=true&max_id=99999999999999999999",
        "/ap/users/federation/outbox?page=true&max_id=%C2%B2",
        "/ap/users/federation/followers?page=99999999999999999999",
    ):
        assert (await anonymous.get(path)).status_code == 400, path
    member = await signed_in(app, db, "cursor_sam")
    for path in ("/social?max_id=99999999999999999999", "/social?max_id=1" + "0" * 5000):
        assert (await member.get(path, headers=HTML)).status_code == 400, path
    assert (await member.get("/social?max_id=9223372036854775807", headers=HTML)).status_code == 200


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("blog", "/?page=1" + "0" * 5000),
        ("blog", "/search?q=soup&page=99999999999999999999"),
        ("market", "/products?page=%C2%B2"),
    ],
)
async def test_a_page_number_out_of_range_is_a_missing_page(
    make_app: AppMaker, name: str, path: str
) -> None:
    app = await make_app(name)
    assert (await app.test_client().get(path)).status_code == 404


def test_parse_int_takes_only_ascii_digits_within_the_range() -> None:
    assert inputs.parse_int("42") == 42
    assert inputs.parse_int("-3", minimum=-5) == -3
    assert inputs.parse_int(str(inputs.INT64_MAX)) == inputs.INT64_MAX
    for raw in ("", "²", "٣", "--1", "1e3", " 1", "9223372036854775808", "1" + "0" * 5000):
        assert inputs.parse_int(raw) is None, raw
    assert inputs.parse_int("0") is None
    assert inputs.parse_int("11", maximum=10) is None


# --- NUL -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("blog", "/posts/%00"),
        ("blog", "/search?q=a%00"),
        ("market", "/products?supplier=%00"),
        ("events", "/calendars/a%00/calendar.ics"),
        ("events", "/feeds/%00.ics"),
        ("events", "/?calendar=%00"),
        ("federation", "/ap/objects/%00"),
        ("account", "/static/%00"),
    ],
)
async def test_a_nul_byte_in_the_path_or_query_is_a_bad_request(
    make_app: AppMaker, name: str, path: str
) -> None:
    app = await make_app(name)
    resp = await app.test_client().get(path)
    assert resp.status_code == 400
    assert "That request did not make sense" in await resp.get_data(as_text=True)


async def test_a_nul_byte_in_an_admins_search_is_a_bad_request(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    admin = await signed_in(app, db, "nul_admin", "admin")
    assert (await admin.get("/admin/users?q=a%00b", headers=HTML)).status_code == 400
    assert (await admin.get("/admin/users?q=ab", headers=HTML)).status_code == 200


async def test_a_nul_byte_in_a_form_field_is_refused_and_changes_nothing(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("events")
    local = (datetime.now(UTC) + timedelta(days=7)).replace(
        tzinfo=None, hour=18, minute=0, second=0, microsecond=0
    )
    ev = await event_factories.event(db, start=local, end=local + timedelta(hours=2))
    guest = app.test_client()
    headers = await with_token(guest, app, "events")
    at = ev.start.strftime("%Y%m%dT%H%M%SZ")
    form = {"at": at, "quantity": "1", "name": "Sam\x00", "email": "sam@guests.rose-ash.test"}
    resp = await guest.post(f"/events/{ev.slug}/guest", form=form, headers=headers)
    assert resp.status_code == 400
    assert await db.scalar(select(func.count()).select_from(EventBooking)) == 0
    # The same form without the NUL is taken.
    resp = await guest.post(
        f"/events/{ev.slug}/guest", form={**form, "name": "Sam"}, headers=headers
    )
    assert resp.status_code < 400


async def test_a_static_name_longer_than_the_file_system_allows_is_missing(
    make_app: AppMaker,
) -> None:
    app = await make_app("events")
    assert (await app.test_client().get("/static/" + "x" * 5000)).status_code == 404


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/day/9999-12-31",
        "/day/0001-01-01",
        "/week/9999-12-31",
        "/week/9999-12-28",
        "/week/0001-01-01",
        "/day/2026-02-30",
    ],
)
async def test_days_at_the_ends_of_the_calendar_are_missing_pages(
    make_app: AppMaker, path: str
) -> None:
    app = await make_app("events")
    assert (await app.test_client().get(path)).status_code == 404


async def test_the_first_and_last_days_a_page_shows_render(make_app: AppMaker) -> None:
    app = await make_app("events")
    client = app.test_client()
    for day in (inputs.EARLIEST, inputs.LATEST):
        for span in ("day", "week"):
            resp = await client.get(f"/{span}/{day.isoformat()}")
            assert resp.status_code == 200, (span, day)


async def test_occurrences_and_bookings_at_the_ends_of_time_are_refused(
    make_app: AppMaker, db: AsyncSession
) -> None:
    """A yearly event on the last day of the year has an occurrence in 9999 by its rule; the
    page and a booking of it are refused, and nothing is booked."""
    app = await make_app("events")
    start = datetime(2026, 12, 31, 23, 0)
    ev = await event_factories.event(
        db, start=start, end=start + timedelta(hours=2), rrule="FREQ=YEARLY", tz="Pacific/Apia"
    )
    member = await signed_in(app, db, "edge_sam")
    headers = await with_token(member, app, "events")
    for key in ("99991231T100000Z", "00010101T000000Z", "99991231T235959Z"):
        resp = await member.get(f"/events/{ev.slug}?at={key}", headers=HTML)
        assert resp.status_code == 404, key
        resp = await member.post(
            f"/events/{ev.slug}/book", form={"at": key, "quantity": "1"}, headers=headers
        )
        assert resp.status_code in (400, 404), key
        resp = await member.get(f"/events/{ev.slug}/guest?at={key}", headers=HTML)
        assert resp.status_code == 404, key
    assert await db.scalar(select(func.count()).select_from(EventBooking)) == 0


async def test_an_event_cannot_be_saved_in_year_9999(make_app: AppMaker, db: AsyncSession) -> None:
    app = await make_app("events")
    editor = await signed_in(app, db, "edge_rosa", "editor")
    headers = await with_token(editor, app, "events")
    calendar = await event_factories.calendar(db)
    await db.commit()
    resp = await editor.post(
        "/editor/events/new",
        form={
            "calendar_id": str(calendar.id),
            "title": "The end",
            "timezone": "America/Los_Angeles",
            "start": "9999-12-31T23:00",
            "end": "9999-12-31T23:30",
            "status": "published",
        },
        headers=headers,
    )
    assert resp.status_code == 400
    assert "Give a date and time." in await resp.get_data(as_text=True)


def test_date_parsers_refuse_what_pages_cannot_reach() -> None:
    assert inputs.parse_date("2026-12-07") == date(2026, 12, 7)
    assert inputs.parse_date("9999-12-31") is None
    assert inputs.parse_date("0001-01-01") is None
    assert inputs.parse_date("2026-02-30") is None
    assert inputs.parse_utc_stamp("20261207T100000Z") == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert inputs.parse_utc_stamp("99991231T235959Z") is None
    assert inputs.parse_datetime("2026-12-07T10:00") == datetime(2026, 12, 7, 10)
    assert inputs.parse_datetime("0001-01-01T00:00") is None


# --- JSON ----------------------------------------------------------------------------------


async def test_deep_json_to_the_sumup_webhook_is_a_bad_request(make_app: AppMaker) -> None:
    app = await make_app("cart")
    resp = await app.test_client().post(
        "/webhooks/sumup", data=DEEP_LIST, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400


@pytest.mark.parametrize("body", [DEEP_LIST, DEEP_OBJECT], ids=["list", "object"])
@pytest.mark.parametrize("path", ["/ap/inbox", "/ap/users/blog/inbox"])
async def test_deep_json_to_an_inbox_is_refused_before_any_key_is_fetched(
    make_app: AppMaker, body: bytes, path: str
) -> None:
    app = await make_app("blog")
    resp = await app.test_client().post(
        path,
        data=body,
        headers={
            "Content-Type": "application/activity+json",
            # Well formed, so the body is read before the signer's key would be fetched.
            "Signature": 'keyId="http://127.0.0.1:1/actor#main-key",signature="AAAA"',
        },
    )
    assert resp.status_code == 400
    assert "ap_not_json" in await resp.get_data(as_text=True)


def test_parse_json_bounds_depth_and_refuses_nul() -> None:
    assert inputs.parse_json(b'{"type": "Note", "tag": [{"name": "x"}]}')["type"] == "Note"
    fits = "[" * inputs.MAX_JSON_DEPTH + "]" * inputs.MAX_JSON_DEPTH
    assert inputs.parse_json(fits) == json.loads(fits)
    too_deep = "[" * (inputs.MAX_JSON_DEPTH + 1) + "]" * (inputs.MAX_JSON_DEPTH + 1)
    for body in (too_deep, DEEP_LIST, DEEP_OBJECT, '{"a": "\\u0000"}', '{"\\u0000": 1}', b"\xff"):
        with pytest.raises(inputs.JSONBodyError):
            inputs.parse_json(body)
