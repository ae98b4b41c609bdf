"""Tickets on the event page and through the cart, the ticket email (once, with QR codes),
guests' bookings confirmed and cancelled through signed links (forged, expired and
concurrent cases), and what events offer other domains: the dashboard's tickets, digests'
upcoming events, the member's data export and erasure. Real services and a real SMTP server
on loopback throughout."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import itsdangerous.timed
import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shared.config import Settings
from shared.contracts import (
    CartOwner,
    CheckoutDetails,
    EventDTO,
    FulfilmentLine,
    MemberTickets,
    PersonalData,
    TicketTypeInput,
    UpcomingEvents,
    implements,
)
from shared.db import commit
from shared.errors import DomainError, NotFound
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.locking import lock_objects
from shared.models import EventBooking, EventTicket
from shared.services.events.mail import qr_png
from shared.services.events.service import SqlEventService
from tests.events import factories
from tests.identity.factories import client_signed_in, make_member
from tests.support import SmtpSink, csrf_in
from tests.support.settings import AppMaker, make_settings

SOON = (datetime.now(UTC) + timedelta(days=9)).replace(minute=0, second=0, microsecond=0)


def at(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


async def new_event(db: AsyncSession, capacity: int | None = None, **fields: object) -> EventDTO:
    local = SOON.replace(tzinfo=None)
    return await factories.event(
        db, tz="UTC", start=local, end=local + timedelta(hours=2), capacity=capacity, **fields
    )


async def take(svc: SqlEventService, db: AsyncSession, quantities: dict[int, int]) -> None:
    """What the cart's checkout does with tickets: every lock at once, then reserve."""
    await lock_objects(db, await svc.lock_keys(db, quantities))
    await svc.reserve(db, quantities)


async def signed_in(app: RoseQuart, db: AsyncSession, username: str) -> tuple[Client, int]:
    account = await make_member(db, username)
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    client = await client_signed_in(app, account.id, sign_in.sid)
    return client, account.id


def local(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def links(msg: EmailMessage) -> list[str]:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return re.findall(r"https?://\S+", body.get_content())


@pytest.fixture
async def app(make_app: AppMaker, mail_settings: Settings) -> RoseQuart:
    return await make_app("events", app_settings=mail_settings)


# --- tickets: the event page, the cart, the email ------------------------------------------


async def test_tickets_go_into_the_cart_from_the_event_page_and_sold_out_ones_say_so(
    app: RoseQuart, db: AsyncSession
) -> None:
    svc = services().events
    ev = await new_event(db, capacity=None, title="Harvest dance")
    standard = await svc.add_ticket_type(
        db, ev.id, TicketTypeInput("Standard", ev.start, 1200, capacity=5)
    )
    gone = await svc.add_ticket_type(db, ev.id, TicketTypeInput("Early", ev.start, 800, capacity=1))
    await take(svc, db, {gone.id: 1})
    await db.commit()
    client, member = await signed_in(app, db, "tamsin")

    html = await (await client.get(f"/events/{ev.slug}")).get_data(as_text=True)
    assert f'id="add-ticket-{standard.id}"' in html
    assert f'name="item_id" value="{standard.id}"' in html
    assert f'name="item_id" value="{gone.id}"' not in html
    early = html.split(f'data-ticket-type="{gone.id}"', 1)[1].split("</li>", 1)[0]
    # Sold out: the button is there but disabled, with the reason beside it.
    assert re.search(r"<button type=\"button\" disabled[^>]*>Add Early ticket to cart<", early)
    assert f'<span class="add-to-cart__why" id="why-ticket-{gone.id}">Sold out</span>' in early

    # The form carries no token (the page may be cached whole); the browser's Origin is checked.
    assert 'name="csrf_token"' not in html.split(f'id="add-ticket-{standard.id}"', 1)[1][:600]
    origin = {"Origin": app.extensions["rose"].settings.apps["events"].public_url}
    form = {"kind": "ticket", "item_id": str(standard.id)}
    resp = await client.post("/cart-add", form={**form, "quantity": "2"}, headers=origin)
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/?notice=added")
    resp = await client.post("/cart-add", form=form, headers={**origin, "HX-Request": "true"})
    assert "Added to your cart: Harvest dance — Standard (now 3)" in await resp.get_data(
        as_text=True
    )
    # The sold-out type is refused by the cart too, and nothing is added.
    resp = await client.post("/cart-add", form={**form, "item_id": str(gone.id)}, headers=origin)
    assert "notice=" in resp.headers["Location"]
    assert "added" not in resp.headers["Location"]
    cart = await services().cart.cart(db, CartOwner(user_id=member))
    assert [(line.kind, line.item_id, line.quantity) for line in cart.lines] == [
        ("ticket", standard.id, 3)
    ]


@pytest.mark.parametrize("fulfilment", ["", "delivery"])
async def test_an_order_of_tickets_only_asks_neither_collection_nor_delivery(
    app: RoseQuart, db: AsyncSession, fulfilment: str
) -> None:
    """Nothing said about fulfilment (the form does not ask), or whatever a browser sends:
    tickets are neither collected nor delivered."""
    svc, cart = services().events, services().cart
    ev = await new_event(db, capacity=None, title="Barn dance")
    kind = await svc.add_ticket_type(db, ev.id, TicketTypeInput("Standard", ev.start, 900))
    owner = CartOwner(cart_key=f"tickets-{secrets.token_hex(4)}")
    await cart.add(db, owner, "ticket", kind.id, 2)
    assert (await cart.cart(db, owner)).needs_fulfilment is False
    details = CheckoutDetails(email="sam@guests.rose-ash.test", name="Sam", fulfilment=fulfilment)
    order = await cart.place_order(db, owner, details)
    assert (order.fulfilment, order.address) == ("none", "")


async def test_a_full_occurrence_sells_no_more_tickets(app: RoseQuart, db: AsyncSession) -> None:
    svc = services().events
    ev = await new_event(db, capacity=1, title="Tiny gig")
    kind = await svc.add_ticket_type(db, ev.id, TicketTypeInput("Standard", ev.start, 500))
    member = await make_member(db, "first")
    await svc.book(db, member.id, ev.id, ev.start)  # the only place goes to a free booking
    await db.commit()
    html = await (await app.test_client().get(f"/events/{ev.slug}")).get_data(as_text=True)
    assert "Sold out" in html
    assert 'action="/cart-add"' not in html
    assert (await svc.sellables(db, [kind.id]))[kind.id].available is False


async def test_paid_tickets_are_emailed_once_each_with_its_code_qr_code_and_ics_link(
    db: AsyncSession, smtp_sink: SmtpSink, mail_settings: Settings
) -> None:
    svc = SqlEventService("https://events.example", settings=mail_settings)
    ev = await new_event(db, capacity=20, title="Winter concert", location_name="Back Room")
    kind = await svc.add_ticket_type(db, ev.id, TicketTypeInput("Standard", ev.start, 1200))
    await take(svc, db, {kind.id: 2})
    line = FulfilmentLine(
        order_id=7,
        order_line_id=secrets.randbelow(10**9),
        item_id=kind.id,
        quantity=2,
        buyer_user_id=None,
        buyer_email="buyer@example.test",
        buyer_name="Bea Buyer",
    )
    await svc.fulfil(db, [line])
    assert smtp_sink.messages == [], "nothing is sent before the payment is committed"
    await commit(db)
    mail = await smtp_sink.wait_for("buyer@example.test")
    codes = list(
        await db.scalars(
            select(EventTicket.code)
            .where(EventTicket.order_line_id == line.order_line_id)
            .order_by(EventTicket.seq)
        )
    )
    assert len(codes) == 2
    assert mail["Subject"] == "Your tickets: Winter concert"
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    for code in codes:
        assert f"Code: {code}" in text
        assert code in html
    assert f"https://events.example/events/{ev.slug}/event.ics" in text
    assert "Hello Bea Buyer" in text
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert [p.get_payload(decode=True) for p in images] == [qr_png(c) for c in codes]
    for part in images:
        assert f'src="cid:{part["Content-ID"][1:-1]}"' in html

    # The payment reported again: no new tickets, no second email.
    await svc.fulfil(db, [line])
    await commit(db)
    # A fulfilment rolled back emails no one.
    other = FulfilmentLine(7, secrets.randbelow(10**9), kind.id, 1, None, "late@example.test", "")
    await svc.fulfil(db, [other])
    await db.rollback()
    await commit(db)
    # commit() awaits its after-commit sends, and the sink keeps a message before answering
    # its DATA: whatever these commits sent has arrived by now.
    assert len(smtp_sink.to("buyer@example.test")) == 1
    assert smtp_sink.to("late@example.test") == []


# --- guests' bookings ----------------------------------------------------------------------


async def guest_request(client: Client, ev: EventDTO, name: str, email: str, n: int = 1) -> str:
    page = await client.get(f"/events/{ev.slug}/guest?at={at(ev.start)}")
    assert page.status_code == 200
    resp = await client.post(
        f"/events/{ev.slug}/guest",
        form={
            "csrf_token": csrf_in(await page.get_data(as_text=True)),
            "at": at(ev.start),
            "name": name,
            "email": email,
            "quantity": str(n),
        },
    )
    return await resp.get_data(as_text=True)


async def follow(client: Client, link: str, button: str) -> str:
    """Open an emailed link (a page that asks) and press its button."""
    page = await client.get(local(link))
    html = await page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert button in html
    resp = await client.post(local(link), form={"csrf_token": csrf_in(html)})
    assert resp.status_code == 200
    return await resp.get_data(as_text=True)


async def test_a_guest_books_confirms_by_email_and_cancels_through_the_link(
    app: RoseQuart, db: AsyncSession, smtp_sink: SmtpSink
) -> None:
    svc = services().events
    ev = await new_event(db, capacity=1, title="Seed swap")
    await db.commit()
    client = app.test_client()
    event_page = await (await client.get(f"/events/{ev.slug}")).get_data(as_text=True)
    assert f"/events/{ev.slug}/guest?at={at(ev.start)}" in event_page

    html = await guest_request(client, ev, "Ivy Guest", "Ivy@Example.test")
    assert "Check your email" in html
    booking = await db.scalar(select(EventBooking).where(EventBooking.event_id == ev.id))
    assert booking is not None
    assert (booking.status, booking.guest_email, booking.user_id) == (
        "pending",
        "ivy@example.test",
        None,
    )
    assert (await svc.availability(db, ev, ev.start)).taken == 0, "pending holds no place"

    mail = await smtp_sink.wait_for("ivy@example.test")
    assert mail["Subject"] == "Confirm your booking: Seed swap"
    (confirm,) = links(mail)
    # Opening the link changes nothing (mail scanners fetch links); the button confirms.
    html = await follow(client, confirm, "Confirm my booking")
    assert "You are booked in." in html
    await db.refresh(booking)
    assert booking.status == "confirmed"
    assert booking.code in html
    assert 'src="data:image/svg+xml' in html
    assert (await svc.availability(db, ev, ev.start)).taken == 1
    booked = await smtp_sink.wait_for("ivy@example.test", 2)
    assert booked["Subject"] == "Booked: Seed swap"
    assert booking.code in booked.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert any(p.get_content_type() == "image/png" for p in booked.walk())
    cancel = next(link for link in links(booked) if "/guest-bookings/cancel/" in link)
    # Staff see the guest on the attendee list, and the code checks in at the door.
    (attendee,) = await svc.attendees(db, ev.id, ev.start)
    assert (attendee.name, attendee.email, attendee.status) == (
        "Ivy Guest",
        "ivy@example.test",
        "confirmed",
    )
    admitted = await svc.check_in(db, booking.code)
    assert (admitted.ok, admitted.holder) == (True, "Ivy Guest")
    await db.commit()

    # The same confirmation link again changes nothing.
    again = await client.get(local(confirm))
    assert "This booking is confirmed." in await again.get_data(as_text=True)
    form_page = await client.get(f"/events/{ev.slug}/guest?at={at(ev.start)}")
    token = csrf_in(await form_page.get_data(as_text=True))
    resp = await client.post(local(confirm), form={"csrf_token": token})
    assert "You are booked in." in await resp.get_data(as_text=True)
    assert await db.scalar(select(func.count()).where(EventBooking.event_id == ev.id)) == 1

    # A second guest joins the waiting list; the first cancels and the place is offered on.
    await guest_request(client, ev, "Jay Guest", "jay@example.test")
    jay_confirm = links(await smtp_sink.wait_for("jay@example.test"))[0]
    assert "waiting list" in await follow(client, jay_confirm, "Confirm my booking")
    html = await follow(client, cancel, "Cancel my booking")
    assert "Your booking is cancelled." in html
    await db.refresh(booking)
    assert booking.status == "cancelled"
    freed = await smtp_sink.wait_for("jay@example.test", 3)
    assert freed["Subject"] == "A place for you: Seed swap"
    jay = await db.scalar(
        select(EventBooking).where(EventBooking.guest_email == "jay@example.test")
    )
    assert jay is not None
    assert jay.status == "confirmed"
    # Cancelling twice changes nothing more.
    assert "This booking is cancelled" in (await (await client.get(local(cancel))).get_data(True))


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"name": "", "email": "a@example.test"}, "name_required"),
        ({"name": "A", "email": "not-an-address"}, "invalid_email"),
        ({"name": "A", "email": "a@example.test", "quantity": "9"}, "booking_limit"),
        ({"name": "A", "email": "a@example.test", "quantity": "x"}, "invalid_booking"),
    ],
)
async def test_a_bad_guest_request_is_refused_with_a_code_and_writes_nothing(
    app: RoseQuart, db: AsyncSession, smtp_sink: SmtpSink, form: dict[str, str], code: str
) -> None:
    ev = await new_event(db, capacity=5, per_person_limit=2)
    await db.commit()
    client = app.test_client()
    page = await client.get(f"/events/{ev.slug}/guest?at={at(ev.start)}")
    resp = await client.post(
        f"/events/{ev.slug}/guest",
        form={"csrf_token": csrf_in(await page.get_data(as_text=True)), "at": at(ev.start), **form},
    )
    assert resp.status_code == 400
    assert f'data-error-code="{code}"' in await resp.get_data(as_text=True)
    assert await db.scalar(select(func.count()).where(EventBooking.event_id == ev.id)) == 0
    assert smtp_sink.messages == []


async def test_a_ticketed_event_is_booked_by_buying_a_ticket_not_as_a_guest(
    app: RoseQuart, db: AsyncSession, mail_settings: Settings
) -> None:
    svc = SqlEventService("https://events.example", settings=mail_settings)
    ev = await new_event(db, capacity=5)
    await svc.add_ticket_type(db, ev.id, TicketTypeInput("Standard", ev.start, 500))
    await db.commit()
    with pytest.raises(DomainError) as refused:
        await svc.request_guest_booking(db, ev.id, ev.start, name="Ola", email="o@example.test")
    assert refused.value.code == "tickets_only"
    html = await (await app.test_client().get(f"/events/{ev.slug}")).get_data(as_text=True)
    assert "book as a guest" not in html
    assert 'action="/cart-add"' in html


async def test_forged_mismatched_and_expired_guest_links_are_refused(
    app: RoseQuart, db: AsyncSession, mail_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = SqlEventService("https://events.example", settings=mail_settings)
    ev = await new_event(db, capacity=5)
    booking = await svc.request_guest_booking(
        db, ev.id, ev.start, name="Kit", email="kit@example.test"
    )
    await db.commit()
    for token in ("forged", svc.guest_token(booking, "confirm") + "x"):
        with pytest.raises(DomainError) as refused:
            await svc.confirm_guest_booking(db, token)
        assert refused.value.code == "token_invalid"
    # A confirmation link does not cancel, and a link signed under another key is nothing.
    with pytest.raises(DomainError) as refused:
        await svc.cancel_guest_booking(db, svc.guest_token(booking, "confirm"))
    assert refused.value.code == "token_invalid"
    stranger = SqlEventService("https://events.example", settings=make_settings(
        "postgresql://unused", "redis://unused", ROSE_SECRET_KEY="another-key-" + "k" * 32
    ))  # fmt: skip
    with pytest.raises(DomainError) as refused:
        await svc.confirm_guest_booking(db, stranger.guest_token(booking, "confirm"))
    assert refused.value.code == "token_invalid"
    # A token for a booking that is not this guest's (another id) is not found.
    other = await svc.request_guest_booking(
        db, ev.id, ev.start, name="Lee", email="lee@example.test"
    )
    await db.commit()
    swapped = type(booking)(**{**booking.__dict__, "id": other.id})
    with pytest.raises(NotFound):
        await svc.confirm_guest_booking(db, svc.guest_token(swapped, "confirm"))
    # A day and more later the confirmation link has expired.
    day_ago = time.time() - 25 * 3600
    with monkeypatch.context() as m:
        m.setattr(itsdangerous.timed.time, "time", lambda: day_ago)
        old = svc.guest_token(booking, "confirm")
    with pytest.raises(DomainError) as refused:
        await svc.confirm_guest_booking(db, old)
    assert refused.value.code == "token_expired"
    resp = await app.test_client().get("/guest-bookings/confirm/forged")
    assert resp.status_code == 400
    assert 'data-error-code="token_invalid"' in await resp.get_data(as_text=True)
    assert (await db.get(EventBooking, booking.id)).status == "pending"  # type: ignore[union-attr]


async def test_the_per_person_limit_applies_per_address_for_guests_and_members(
    db: AsyncSession, mail_settings: Settings
) -> None:
    svc = SqlEventService("https://events.example", settings=mail_settings)
    ev = await new_event(db, capacity=10, per_person_limit=2)

    async def guest(email: str, n: int) -> str:
        booking = await svc.request_guest_booking(
            db, ev.id, ev.start, name="G", email=email, quantity=n
        )
        status = (await svc.confirm_guest_booking(db, svc.guest_token(booking, "confirm"))).status
        await db.commit()
        return status

    assert await guest("pat@example.test", 2) == "confirmed"
    with pytest.raises(DomainError) as refused:
        await guest("PAT@example.test", 1)
    assert refused.value.code == "booking_limit"
    await db.rollback()
    # A member whose account has that address is the same person.
    member = await make_member(db, "rowan", email="rowan@example.test")
    await svc.book(db, member.id, ev.id, ev.start, 2)
    await db.commit()
    with pytest.raises(DomainError) as refused:
        await guest("rowan@example.test", 1)
    assert refused.value.code == "booking_limit"
    await db.rollback()
    assert await guest("sam@example.test", 1) == "confirmed"


@pytest.fixture(scope="module")
async def sessions(scratch_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(scratch_database_url, pool_size=35, max_overflow=0)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def test_thirty_guests_and_members_at_once_for_ten_places_give_ten_and_twenty_waiting(
    sessions: async_sessionmaker[AsyncSession], database_url: str, redis_url: str
) -> None:
    svc = SqlEventService("https://events.example", settings=make_settings(database_url, redis_url))
    async with sessions.begin() as db:
        ev = await new_event(db, capacity=10)
        tag = secrets.token_hex(3)
        people = [(await make_member(db, f"c{tag}{i}")).id for i in range(10)]
        tokens = []
        for i in range(20):
            pending = await svc.request_guest_booking(
                db, ev.id, ev.start, name=f"Guest {i}", email=f"g{i}-{tag}@example.test"
            )
            tokens.append(svc.guest_token(pending, "confirm"))

    async def confirm(token: str) -> str:
        async with sessions.begin() as db:
            status = (await svc.confirm_guest_booking(db, token)).status
            await asyncio.sleep(0.005)  # hold the lock a moment, as a busy request would
            return status

    async def book(user_id: int) -> str:
        async with sessions.begin() as db:
            status = (await svc.book(db, user_id, ev.id, ev.start)).status
            await asyncio.sleep(0.005)
            return status

    statuses = await asyncio.gather(*map(confirm, tokens), *map(book, people))
    assert statuses.count("confirmed") == 10
    assert statuses.count("waiting") == 20
    async with sessions() as db:
        place = await svc.availability(db, ev, ev.start)
    assert (place.taken, place.waiting) == (10, 20)


# --- what events offer the other domains ----------------------------------------------------


async def test_events_offer_the_dashboard_digest_and_personal_data_capabilities(
    db: AsyncSession, mail_settings: Settings
) -> None:
    svc = SqlEventService("https://events.example", settings=mail_settings)
    for capability in (MemberTickets, UpcomingEvents, PersonalData):
        assert implements(svc, capability)
        assert implements(services().events, capability)
    ev = await new_event(
        db, capacity=1, title="Cheese & cider", description_html="<p>Bring <b>a</b> plate</p>"
    )
    await new_event(db, title="Called off", status="cancelled")
    kind = await svc.add_ticket_type(db, ev.id, TicketTypeInput("Standard", ev.start, 900))
    hana = await make_member(db, "hana", email="hana@example.test")
    other = await make_member(db, "ines")
    await db.commit()
    booking = await svc.book(db, hana.id, ev.id, ev.start)
    await db.commit()
    waiting = await svc.book(db, other.id, ev.id, ev.start)
    await db.commit()
    assert waiting.status == "waiting"
    picnic = await new_event(db, capacity=5, title="Picnic")
    guest = await svc.request_guest_booking(
        db, picnic.id, picnic.start, name="H", email="HANA@example.test"
    )
    line = FulfilmentLine(9, secrets.randbelow(10**9), kind.id, 1, hana.id, hana.email, "Hana")
    await svc.fulfil(db, [line])
    await svc.feed_token(db, hana.id)

    mine = await svc.upcoming_for_member(db, hana.id)
    assert sorted(t.kind for t in mine) == ["booking", "ticket"]
    assert all(t.qr_url and t.qr_url.startswith("data:image/svg+xml") for t in mine)
    assert all(t.ics_url == f"https://events.example/events/{ev.slug}/event.ics" for t in mine)
    assert {t.event_title for t in mine} == {"Cheese & cider", "Cheese & cider — Standard"}
    assert len(await svc.upcoming_for_member(db, hana.id, limit=1)) == 1

    public = await svc.upcoming_public(db, limit=50)
    titles = [e.title for e in public]
    assert "Cheese & cider" in titles
    assert "Called off" not in titles
    ours = next(e for e in public if e.title == "Cheese & cider")
    assert ours.summary == "Bring a plate"
    assert ours.url == f"https://events.example/events/{ev.slug}?at={at(ev.start)}"

    exported = await svc.export_member(db, hana.id)
    assert exported.domain == "events"
    assert [b["id"] for b in exported.data["bookings"]] == [booking.id, guest.id]
    assert exported.data["bookings"][1]["as_guest"] is True
    assert len(exported.data["tickets"]) == 1
    assert exported.data["tickets"][0]["holder_email"] == "hana@example.test"
    assert exported.data["private_feed"] is True

    await svc.erase_member(db, hana.id, hana.email)
    gone = await db.scalar(select(func.count()).where(EventBooking.id.in_([booking.id, guest.id])))
    assert gone == 0
    db.expire_all()
    assert (await db.get(EventBooking, waiting.id)).status == "confirmed"  # type: ignore[union-attr]
    ticket = await db.scalar(select(EventTicket).where(EventTicket.ticket_type_id == kind.id))
    assert ticket is not None
    assert (ticket.user_id, ticket.holder_email, ticket.holder_name) == (None, "", "")
    after = await svc.export_member(db, hana.id)
    assert after.data == {"bookings": [], "tickets": [], "private_feed": False}
    assert await svc.upcoming_for_member(db, hana.id) == ()
