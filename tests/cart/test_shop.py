"""The cart over real HTTP: add to cart from a market page, the mini cart, checkout, paying
on the SumUp stand-in, webhooks, the poller, refunds; and the integrity cases under load."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx

from shared.models import Order, Payment
from shared.services.cart.stages import cart_payments
from shared.services.registry import build_services
from tests.cart.factories import Shop, checkout_id, order_status, place_order
from tests.support import Browser, SmtpSink, csrf_in


async def test_guest_adds_from_a_market_page_checks_out_and_pays_on_the_stand_in(
    shop: Shop, browser: Browser, smtp_sink: SmtpSink
) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5, price_minor=450, title="Rye loaf")

    # Without JavaScript: the form posts to market, which redirects to the cart page.
    page = await shop.add(browser, product, 2)
    assert str(page.url).startswith(shop.url("cart")), browser.hops
    assert "Added to your cart" in page.text
    assert "Rye loaf" in page.text
    assert "£9.00" in page.text  # 2 x £4.50, the price read from the market
    # The header's mini cart, fetched from the cart app, says so too (invalidated, not TTL).
    market = await browser.get(f"{shop.url('market')}/test-product/{product}")
    assert 'data-count="2"' in market.text
    assert "£9.00" in market.text

    # With htmx: the form comes back saying what happened, and the mini cart out of band.
    resp = await shop.add(browser, product, 1, htmx=True)
    assert resp.status_code == 200
    assert 'hx-swap-oob="outerHTML:.slot-cart"' in resp.text
    assert 'data-count="3"' in resp.text
    # More than there are: a clear message and nothing changes.
    resp = await shop.add(browser, product, 3, htmx=True)
    assert 'data-error-code="short_stock"' in resp.text
    assert "only 5" in resp.text
    cart = await browser.get(f"{shop.url('cart')}/")
    assert 'value="3"' in cart.text

    # Placing the order goes straight to SumUp's hosted page (the checkout page's CSP
    # form-action allows it, and only it besides our own apps).
    form = await browser.get(f"{shop.url('cart')}/checkout")
    form_action = form.headers["Content-Security-Policy"].split("form-action ")[1].split(";")[0]
    assert shop.standin.url in form_action.split()
    resp = await shop.checkout(browser, email="rowan@guests.rose-ash.test")
    assert resp.status_code == 302
    hosted = resp.headers["location"]
    assert hosted.startswith(shop.standin.url + "/pay/c-")
    [order] = await shop.orders(product)
    assert (order.status, order.total_minor, order.currency) == ("pending_payment", 1350, "GBP")
    assert await shop.stock(product) == 2  # reserved

    # The stand-in's hosted page, clearly a test; paying sends the webhook and the buyer back.
    pay_page = await browser.get(hosted)
    assert "TEST PAYMENT" in pay_page.text
    back = await browser.post(hosted, {"outcome": "pay"})
    assert back.status_code == 200
    assert f"Order {order.id}" in back.text
    # One state, from the order itself: paid, and nothing saying otherwise.
    assert "Thank you: your payment was received." in back.text
    assert "We have not heard from SumUp" not in back.text
    await shop.standin.delivered()
    assert (await order_status(shop, order.id))[0] == "paid"
    receipt = await smtp_sink.wait_for("rowan@guests.rose-ash.test")
    body = receipt.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert f"Order {order.id}" in body
    assert "£13.50" in body
    assert "/orders/" in body
    # The receipt's signed link opens the order in another browser; without it, a 404.
    link = next(w for w in body.split() if "/orders/" in w)
    async with httpx.AsyncClient() as other:
        assert (await other.get(link)).status_code == 200
        assert (await other.get(link.split("?")[0])).status_code == 404
        assert (await other.get(link[:-2] + "00")).status_code == 404
    assert len(await shop.audit(order.id, "order.paid")) == 1
    cart = await browser.get(f"{shop.url('cart')}/")
    assert "Your cart is empty" in cart.text


async def test_fifty_concurrent_checkouts_over_http_for_ten_in_stock(
    shop: Shop,
) -> None:
    """50 buyers, each with one in their cart, check out at once: exactly 10 orders are
    reserved, the other 40 are told it sold out, and stock never goes below zero."""
    await shop.serve("market", "cart")
    product = await shop.product(stock=60)
    browsers = [Browser() for _ in range(50)]
    try:
        for b in browsers:
            await shop.add(b, product, 1)
        # Only 10 left by the time they all check out.
        async with shop.sessions.begin() as db:
            from sqlalchemy import update

            from shared.models import Product

            await db.execute(update(Product).where(Product.id == product).values(stock=10))
        forms = [await b.get(f"{shop.url('cart')}/checkout") for b in browsers]

        async def go(b: Browser, form: httpx.Response) -> int:
            resp = await b.post(
                f"{shop.url('cart')}/checkout",
                {
                    "name": "Buyer",
                    "email": "buyer@guests.rose-ash.test",
                    "fulfilment": "collection",
                    "csrf_token": csrf_in(form.text),
                },
                follow=False,
            )
            return resp.status_code

        statuses = await asyncio.gather(*(go(b, f) for b, f in zip(browsers, forms, strict=True)))
    finally:
        for b in browsers:
            await b.aclose()
    assert statuses.count(302) == 10, statuses
    assert statuses.count(409) == 40, statuses
    orders = await shop.orders(product)
    assert len(orders) == 10
    assert {o.status for o in orders} == {"pending_payment"}
    assert await shop.stock(product) == 0


async def test_the_same_webhook_five_times_at_once_pays_once(
    shop: Shop, browser: Browser, smtp_sink: SmtpSink
) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=3)
    order_id = await place_order(shop, browser, product)
    cid = await checkout_id(shop, order_id)
    shop.standin.mark_paid(cid, notify=False)
    hook = {"event_type": "CHECKOUT_STATUS_CHANGED", "id": cid}
    async with httpx.AsyncClient() as client:
        answers = await asyncio.gather(
            *(client.post(f"{shop.url('cart')}/webhooks/sumup", json=hook) for _ in range(5))
        )
    assert [a.status_code for a in answers] == [200] * 5
    assert sorted(a.json()["status"] for a in answers) == ["paid"] + ["unchanged"] * 4
    assert (await order_status(shop, order_id))[0] == "paid"
    assert len(await shop.audit(order_id, "order.paid")) == 1
    # A request runs its after-commit sends before it answers, and the sink keeps a message
    # before answering its DATA: with the five answers in, every receipt sent has arrived.
    assert len(smtp_sink.to("rowan@guests.rose-ash.test")) == 1


async def test_an_amount_or_currency_mismatch_leaves_the_order_unpaid_and_flagged(
    shop: Shop, browser: Browser
) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5, price_minor=450)
    for amount, currency in ((Decimal("4.49"), "GBP"), (Decimal("4.50"), "EUR")):
        order_id = await place_order(shop, browser, product)
        cid = await checkout_id(shop, order_id)
        shop.standin.mark_paid(cid, amount=amount, currency=currency)
        await shop.standin.delivered()
        status, flagged = await order_status(shop, order_id)
        assert (status, flagged) == ("pending_payment", True)
        assert len(await shop.audit(order_id, "order.flagged")) == 1
        assert await shop.audit(order_id, "order.paid") == []


async def test_forged_webhooks_change_nothing(shop: Shop, browser: Browser) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5)
    mine = await place_order(shop, browser, product)
    theirs = await place_order(shop, browser, product)
    their_checkout = await checkout_id(shop, theirs)
    # A checkout SumUp has paid but that no order of ours knows (another shop's).
    stranger = shop.standin.create("someone-else", Decimal("4.50"), "GBP")
    shop.standin.mark_paid(stranger.id, notify=False)
    url = f"{shop.url('cart')}/webhooks/sumup"
    async with httpx.AsyncClient() as client:
        for body in (
            {"event_type": "CHECKOUT_STATUS_CHANGED", "id": "no-such-checkout"},
            {"event_type": "CHECKOUT_STATUS_CHANGED", "id": stranger.id},
            # The other order's real checkout, still unpaid: a re-read says PENDING.
            {"event_type": "CHECKOUT_STATUS_CHANGED", "id": their_checkout},
            {"event_type": "SOMETHING_ELSE", "id": their_checkout},
        ):
            resp = await client.post(url, content=json.dumps(body))
            assert resp.status_code == 200
        assert (await client.post(url, content=b"not json")).status_code == 400
    for order_id in (mine, theirs):
        assert await order_status(shop, order_id) == ("pending_payment", False)
        assert await shop.audit(order_id, "order.paid") == []


async def test_sumup_down_keeps_the_order_pending_and_the_poller_recovers(
    shop: Shop, browser: Browser, smtp_sink: SmtpSink
) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5)
    await shop.add(browser, product, 1)
    shop.standin.down = True
    resp = await shop.checkout(browser)
    assert resp.status_code == 302
    page = await browser.get(shop.url("cart") + resp.headers["location"])
    assert "could not reach the payment provider" in page.text
    [order] = await shop.orders(product)
    assert order.status == "pending_payment"
    assert await shop.stock(product) == 4  # still reserved

    # SumUp comes back; the buyer paid on a checkout the worker made, the webhook was lost.
    shop.standin.down = False
    settings = shop.platform.settings()
    services = build_services(settings)
    stage = cart_payments(shop.sessions, services.cart, settings)
    await stage()
    cid = await checkout_id(shop, order.id)
    shop.standin.checkouts[cid].return_url = None  # the webhook never arrives
    shop.standin.mark_paid(cid)
    async with shop.sessions.begin() as db:
        from sqlalchemy import update

        await db.execute(
            update(Payment).where(Payment.order_id == order.id).values(checked_at=None)
        )
    assert await stage() >= 1
    assert (await order_status(shop, order.id))[0] == "paid"
    await smtp_sink.wait_for("rowan@guests.rose-ash.test")


async def test_unpaid_orders_expire_and_give_their_stock_back(shop: Shop, browser: Browser) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5)
    order_id = await place_order(shop, browser, product, 2)
    assert await shop.stock(product) == 3
    async with shop.sessions.begin() as db:
        from datetime import UTC, datetime, timedelta

        from sqlalchemy import update

        await db.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(reserved_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    settings = shop.platform.settings()
    stage = cart_payments(shop.sessions, build_services(settings).cart, settings)
    await stage()
    assert (await order_status(shop, order_id))[0] == "expired"
    assert await shop.stock(product) == 5
    assert len(await shop.audit(order_id, "order.expired")) == 1
    # Paying the expired order's checkout afterwards flags it for staff, never "paid".
    cid = await checkout_id(shop, order_id)
    shop.standin.mark_paid(cid)
    await shop.standin.delivered()
    assert await order_status(shop, order_id) == ("expired", True)
