"""Paying again after SumUp reported a checkout FAILED or EXPIRED: each attempt is a new
checkout (reference ``<order id>-<attempt>``: a reference is used once), webhooks and the
poller map every attempt back to its order, and a new attempt is made only when no earlier
one can still be paid, however many clicks arrive at once: never a second charge."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select

from shared.contracts import CartOwner, CheckoutDetails, PaymentDTO
from shared.errors import DomainError
from shared.models import Payment
from shared.services.cart.payments import MAX_PAYMENT_ATTEMPTS
from shared.services.cart.service import SqlCartService
from shared.services.cart.stages import cart_payments
from shared.services.registry import build_services
from tests.cart.factories import Shop, order_status, place_order
from tests.support import Browser, SmtpSink, csrf_in


async def attempts(shop: Shop, order_id: int) -> list[tuple[int, str, str | None]]:
    async with shop.sessions() as db:
        rows = await db.execute(
            select(Payment.attempt, Payment.status, Payment.checkout_id)
            .where(Payment.order_id == order_id)
            .order_by(Payment.attempt)
        )
        return [(a, s, c) for a, s, c in rows]


def cart_service(shop: Shop) -> SqlCartService:
    cart = build_services(shop.platform.settings()).cart
    assert isinstance(cart, SqlCartService)
    return cart


async def service_order(shop: Shop, cart: SqlCartService, product: int) -> int:
    """A guest's order placed through the service, with its first checkout."""
    owner = CartOwner(cart_key=f"retry-{product}")
    async with shop.sessions.begin() as db:
        await cart.add(db, owner, "product", product, 1)
        placed = await cart.place_order(
            db,
            owner,
            CheckoutDetails(
                email="rowan@guests.rose-ash.test", name="Rowan", fulfilment="collection"
            ),
        )
    async with shop.sessions.begin() as db:
        await cart.ensure_checkout(db, placed.id)
    return placed.id


async def retry(shop: Shop, cart: SqlCartService, order_id: int) -> PaymentDTO:
    async with shop.sessions.begin() as db:
        return await cart.retry_checkout(db, order_id)


async def test_a_declined_payment_is_tried_again_on_a_new_checkout_and_paid_once(
    shop: Shop, browser: Browser, smtp_sink: SmtpSink
) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5, price_minor=450)
    order_id = await place_order(shop, browser, product)
    page = await browser.get(f"{shop.url('cart')}/orders/{order_id}")
    first = re.search(r'class="button primary pay-now" href="([^"]+)"', page.text)
    assert first is not None

    # Declined on SumUp's page: back on the order page, the buyer may try again.
    back = await browser.post(first.group(1), {"outcome": "decline"})
    assert "did not go through" in back.text
    assert 'class="primary retry-payment"' in back.text
    assert await order_status(shop, order_id) == ("pending_payment", False)
    [(_, status, first_checkout)] = await attempts(shop, order_id)
    assert status == "FAILED"
    assert await shop.stock(product) == 4  # still reserved for the buyer

    resp = await browser.post(
        f"{shop.url('cart')}/orders/{order_id}/pay", {"csrf_token": csrf_in(back.text)}
    )
    # Straight to SumUp's page for the new attempt.
    assert resp.status_code == 200
    assert "TEST PAYMENT" in resp.text
    second = str(resp.url)
    assert second.startswith(shop.standin.url + "/pay/c-")
    assert second != first.group(1)
    rows = await attempts(shop, order_id)
    assert [(a, s) for a, s, _c in rows] == [(1, "FAILED"), (2, "PENDING")]
    assert shop.standin.checkouts[rows[1][2] or ""].reference == f"{order_id}-2"
    assert len(await shop.audit(order_id, "order.payment_retried")) == 1

    paid = await browser.post(second, {"outcome": "pay"})
    assert "Thank you: your payment was received." in paid.text
    await shop.standin.delivered()
    assert await order_status(shop, order_id) == ("paid", False)
    assert len(await shop.audit(order_id, "order.paid")) == 1
    await smtp_sink.wait_for("rowan@guests.rose-ash.test")
    # A late webhook for the declined attempt changes nothing; paying again is refused.
    async with httpx.AsyncClient() as client:
        hook = {"event_type": "CHECKOUT_STATUS_CHANGED", "id": first_checkout}
        answer = await client.post(f"{shop.url('cart')}/webhooks/sumup", json=hook)
    assert answer.json()["status"] == "unchanged"
    again = await browser.post(
        f"{shop.url('cart')}/orders/{order_id}/pay", {"csrf_token": csrf_in(back.text)}
    )
    assert 'class="primary retry-payment"' not in again.text
    assert len(await attempts(shop, order_id)) == 2
    assert len(await shop.audit(order_id, "order.paid")) == 1
    assert len(smtp_sink.to("rowan@guests.rose-ash.test")) == 1


async def test_five_retries_at_once_make_one_new_checkout(shop: Shop) -> None:
    cart = cart_service(shop)
    product = await shop.product(stock=5)
    order_id = await service_order(shop, cart, product)
    [(_, _, first)] = await attempts(shop, order_id)
    assert first is not None
    shop.standin.mark_failed(first, notify=False)

    answers = await asyncio.gather(*(retry(shop, cart, order_id) for _ in range(5)))
    assert {a.attempt for a in answers} == {2}
    assert len({a.checkout_id for a in answers}) == 1
    assert [a for a, _s, _c in await attempts(shop, order_id)] == [1, 2]
    references = [c.reference for c in shop.standin.checkouts.values()]
    assert references.count(f"{order_id}-2") == 1
    assert f"{order_id}-3" not in references
    assert len(await shop.audit(order_id, "order.payment_retried")) == 1

    # The second attempt is paid but its webhook is lost: the poller maps it to the order.
    second = answers[0].checkout_id
    assert second is not None
    shop.standin.mark_paid(second, notify=False)
    settings = shop.platform.settings()
    async with shop.sessions.begin() as db:
        await db.execute(
            Payment.__table__.update().where(Payment.order_id == order_id).values(checked_at=None)
        )
    assert await cart_payments(shop.sessions, cart, settings)() >= 1
    assert await order_status(shop, order_id) == ("paid", False)
    assert len(await shop.audit(order_id, "order.paid")) == 1


async def test_no_new_checkout_while_one_can_still_be_paid_or_was(shop: Shop) -> None:
    cart = cart_service(shop)
    product = await shop.product(stock=5)
    order_id = await service_order(shop, cart, product)
    [(_, _, first)] = await attempts(shop, order_id)
    assert first is not None
    # Still PENDING at SumUp: the buyer is sent to the same checkout.
    assert (await retry(shop, cart, order_id)).checkout_id == first
    # Paid at SumUp, but we have not heard yet: the re-read pays the order, no new checkout.
    shop.standin.mark_paid(first, notify=False)
    paid = await retry(shop, cart, order_id)
    assert (paid.checkout_id, paid.status) == (first, "PAID")
    assert paid.transaction_id is not None
    assert await order_status(shop, order_id) == ("paid", False)
    with pytest.raises(DomainError) as refused:
        async with shop.sessions.begin() as db:
            await cart.retry_checkout(db, order_id + 10_000)
    assert refused.value.code == "order_not_found"
    assert len(await attempts(shop, order_id)) == 1
    assert len(shop.standin.checkouts) == 1


async def test_attempts_are_bounded(shop: Shop) -> None:
    cart = cart_service(shop)
    product = await shop.product(stock=5)
    order_id = await service_order(shop, cart, product)
    for _ in range(MAX_PAYMENT_ATTEMPTS):
        latest = (await attempts(shop, order_id))[-1][2]
        assert latest is not None
        shop.standin.mark_failed(latest, notify=False)
        if len(await attempts(shop, order_id)) < MAX_PAYMENT_ATTEMPTS:
            await retry(shop, cart, order_id)
    with pytest.raises(DomainError) as refused:
        await retry(shop, cart, order_id)
    assert refused.value.code == "too_many_attempts"
    assert len(await attempts(shop, order_id)) == MAX_PAYMENT_ATTEMPTS
    assert await order_status(shop, order_id) == ("pending_payment", False)
