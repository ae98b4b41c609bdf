"""Bookings, waiting list, tickets and check-in under real concurrent transactions.

Each racer has its own connection to a committed database (``scratch_database_url``), so the
advisory locks and the counts are contended exactly as by concurrent requests.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shared.contracts import EventDTO, FulfilmentLine, TicketTypeInput
from shared.contracts.errors import SoldOut
from shared.errors import DomainError, NotFound
from shared.infrastructure.locking import LockingError, lock_objects
from shared.models import AuditLog, EventBooking, EventTicket
from tests.events import factories
from tests.events.factories import events
from tests.identity.factories import make_member

SOON = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=20)


@pytest.fixture(scope="module")
async def sessions(scratch_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    # Ten connections: the racers queue for them as requests queue for an app's pool, and the
    # suite stays within its share of a PostgreSQL other test runs use too.
    engine = create_async_engine(scratch_database_url, pool_size=10, max_overflow=0)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def members(sessions: async_sessionmaker[AsyncSession], n: int) -> list[int]:
    async with sessions.begin() as session:
        tag = secrets.token_hex(3)
        return [(await make_member(session, f"m{tag}{i}")).id for i in range(n)]


async def new_event(
    sessions: async_sessionmaker[AsyncSession], capacity: int | None, **fields: object
) -> EventDTO:
    local = SOON.replace(tzinfo=None)
    async with sessions.begin() as session:
        return await factories.event(
            session,
            tz="UTC",
            start=local,
            end=local + timedelta(hours=2),
            capacity=capacity,
            **fields,
        )


async def book(
    sessions: async_sessionmaker[AsyncSession], user_id: int, event: EventDTO, quantity: int = 1
) -> str:
    async with sessions.begin() as session:
        booking = await events.book(session, user_id, event.id, event.start, quantity)
        await asyncio.sleep(0.005)  # hold the lock a moment, as a request writing more would
        return booking.status


async def test_thirty_concurrent_bookings_for_ten_places_give_ten_and_a_waiting_list_of_twenty(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    event = await new_event(sessions, capacity=10)
    people = await members(sessions, 30)
    statuses = await asyncio.gather(*(book(sessions, p, event) for p in people))
    assert statuses.count("confirmed") == 10
    assert statuses.count("waiting") == 20
    async with sessions() as session:
        place = await events.availability(session, event, event.start)
        assert (place.taken, place.waiting, place.remaining, place.full) == (10, 20, 0, True)
        confirmed = await session.scalar(
            select(func.count()).where(
                EventBooking.event_id == event.id, EventBooking.status == "confirmed"
            )
        )
        assert confirmed == 10


async def test_a_cancelled_place_goes_to_the_waiting_list_in_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    event = await new_event(sessions, capacity=2)
    a, b, c, d = await members(sessions, 4)
    assert [await book(sessions, p, event) for p in (a, b)] == ["confirmed", "confirmed"]
    assert await book(sessions, c, event, 2) == "waiting"
    assert await book(sessions, d, event) == "waiting"
    async with sessions.begin() as session:
        a_booking = (await events.member_bookings(session, a, event.id))[0]
        # Another member's booking is not theirs to cancel: not found, nothing changes.
        with pytest.raises(NotFound):
            await events.cancel_booking(session, d, a_booking.id)
    async with sessions.begin() as session:
        # One place freed: c wants two, so c keeps the head of the line and d waits behind.
        assert await events.cancel_booking(session, a, a_booking.id) == []
    async with sessions.begin() as session:
        b_booking = (await events.member_bookings(session, b, event.id))[0]
        promoted = await events.cancel_booking(session, b, b_booking.id)
    assert [p.user_id for p in promoted] == [c]
    async with sessions() as session:
        assert (await events.member_bookings(session, d, event.id))[0].status == "waiting"
        actions = set(
            await session.scalars(
                select(AuditLog.action).where(AuditLog.object_type == "event_booking")
            )
        )
        assert {"booking.created", "booking.cancelled", "booking.confirmed_from_waiting_list"} <= (
            actions
        )


async def test_the_per_person_limit_counts_earlier_bookings(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    event = await new_event(sessions, capacity=None, per_person_limit=3)
    (member,) = await members(sessions, 1)
    assert await book(sessions, member, event, 2) == "confirmed"
    with pytest.raises(DomainError) as refused:
        await book(sessions, member, event, 2)
    assert refused.value.code == "booking_limit"
    with pytest.raises(DomainError) as refused:
        await book(sessions, member, event, 0)
    assert refused.value.code == "booking_limit"


async def test_drafts_past_and_non_occurrences_cannot_be_booked(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    (member,) = await members(sessions, 1)
    draft = await new_event(sessions, capacity=5, status="draft")
    with pytest.raises(NotFound):
        await book(sessions, member, draft)
    event = await new_event(sessions, capacity=5)
    async with sessions.begin() as session:
        with pytest.raises(NotFound) as refused:
            await events.book(session, member, event.id, event.start + timedelta(minutes=1))
        assert refused.value.code == "occurrence_not_found"
        with pytest.raises(DomainError) as closed:
            await events.book(session, member, event.id, event.start, now=event.start)
        assert closed.value.code == "booking_closed"


async def reserve(sessions: async_sessionmaker[AsyncSession], quantities: dict[int, int]) -> bool:
    """What the cart's checkout does: lock every key at once, reserve, commit."""
    async with sessions.begin() as session:
        await lock_objects(session, await events.lock_keys(session, quantities))
        try:
            await events.reserve(session, quantities)
        except SoldOut:
            return False
        await asyncio.sleep(0.005)
        return True


async def test_tickets_and_free_bookings_share_the_capacity_under_concurrency(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    event = await new_event(sessions, capacity=12)
    async with sessions.begin() as session:
        standard = await events.add_ticket_type(
            session, event.id, TicketTypeInput("Standard", event.start, 1200, capacity=8)
        )
        concession = await events.add_ticket_type(
            session, event.id, TicketTypeInput("Concession", event.start, 600)
        )
    people = await members(sessions, 10)
    racers = [reserve(sessions, {standard.id: 1}) for _ in range(15)]
    racers += [reserve(sessions, {concession.id: 1}) for _ in range(15)]
    results, statuses = await asyncio.gather(
        asyncio.gather(*racers), asyncio.gather(*(book(sessions, p, event) for p in people))
    )
    async with sessions() as session:
        found = await events.sellables(session, [standard.id, concession.id])
        place = await events.availability(session, event, event.start)
    assert place.taken == 12, "the capacity is never exceeded, whoever takes the places"
    assert results.count(True) + statuses.count("confirmed") == 12
    assert found[standard.id].stock is not None
    assert found[standard.id].stock >= 0
    assert found[standard.id].price.amount_minor == 1200
    assert found[standard.id].kind == "ticket"


async def test_reserving_tickets_without_the_locks_is_a_programming_error(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    event = await new_event(sessions, capacity=5)
    async with sessions.begin() as session:
        kind = await events.add_ticket_type(
            session, event.id, TicketTypeInput("Standard", event.start, 500)
        )
    async with sessions() as session:
        with pytest.raises(LockingError):
            await events.reserve(session, {kind.id: 1})
        await session.rollback()


async def test_fulfil_issues_tickets_once_and_each_code_checks_in_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    event = await new_event(sessions, capacity=None)
    (buyer,) = await members(sessions, 1)
    async with sessions.begin() as session:
        kind = await events.add_ticket_type(
            session, event.id, TicketTypeInput("Standard", event.start, 900, capacity=5)
        )
    assert await reserve(sessions, {kind.id: 2})
    line = FulfilmentLine(
        order_id=41,
        order_line_id=secrets.randbelow(10**9),
        item_id=kind.id,
        quantity=2,
        buyer_user_id=buyer,
        buyer_email="buyer@example.test",
        buyer_name="Bea Buyer",
    )
    for _ in range(2):  # the payment reported twice issues the tickets once
        async with sessions.begin() as session:
            await events.fulfil(session, [line])
    async with sessions() as session:
        codes = list(
            await session.scalars(
                select(EventTicket.code).where(EventTicket.order_line_id == line.order_line_id)
            )
        )
        mine = await events.member_upcoming(session, buyer)
    assert len(codes) == 2
    assert len(set(codes)) == 2
    assert [m.kind for m in mine] == ["ticket", "ticket"]
    assert mine[0].qr_svg_data_uri is not None
    assert mine[0].qr_svg_data_uri.startswith("data:image/svg+xml")
    assert mine[0].ics_url == f"https://events.example/events/{event.slug}/event.ics"

    async def scan() -> bool:
        async with sessions.begin() as session:
            return (await events.check_in(session, codes[0])).ok

    # Two phones scan the same code at once: exactly one admits it.
    assert sorted(await asyncio.gather(scan(), scan())) == [False, True]
    async with sessions.begin() as session:
        again = await events.check_in(session, codes[0])
    assert not again.ok
    assert again.checked_in_at is not None
    assert again.holder == "Bea Buyer"
    async with sessions.begin() as session:
        with pytest.raises(NotFound):
            await events.check_in(session, "no-such-code")
