"""A buyer whose checkout answer was lost (the app died after committing the order) finds an
empty cart: the cart page tells that browser, or that member, it has an unpaid order, and
links to it; nobody else is told."""

from __future__ import annotations

import re

from quart.typing import TestClientProtocol as Client
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CartOwner, CheckoutDetails
from shared.infrastructure.cart_web import COOKIE, sign_cart_key
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import Order, Product
from tests.identity.factories import signed_in
from tests.support.settings import AppMaker

DETAILS = CheckoutDetails(email="lost@example.test", name="Lost Answer", fulfilment="collection")


async def placed_without_an_answer(db: AsyncSession, owner: CartOwner, title: str) -> int:
    """What the checkout committed before the app died: the order, and the cart emptied."""
    product = Product(slug=title.lower().replace(" ", "-"), title=title, price_minor=450, stock=5)
    db.add(product)
    await db.flush()
    await services().cart.add(db, owner, "product", product.id, 2)
    order = await services().cart.place_order(db, owner, DETAILS)
    await db.commit()
    return order.id


async def cart_page(client: Client) -> str:
    resp = await client.get("/")
    assert resp.status_code == 200
    return await resp.get_data(as_text=True)


def browser_with(app: RoseQuart, key: str) -> Client:
    client = app.test_client()
    client.set_cookie("localhost", COOKIE, sign_cart_key(key))
    return client


async def test_the_browser_that_placed_an_unpaid_order_is_told_and_led_to_it(
    make_app: AppMaker, db: AsyncSession
) -> None:
    key = "lost-answer-" + "k" * 20
    order_id = await placed_without_an_answer(db, CartOwner(cart_key=key), "Lost loaf")
    app = await make_app("cart")
    async with app.app_context():
        browser = browser_with(app, key)
    html = await cart_page(browser)
    assert "Your cart is empty" in html
    assert 'data-notice="unpaid_orders"' in html
    link = re.search(rf'<a href="([^"]+)" data-order="{order_id}">', html)
    assert link is not None
    path = link.group(1).split("://", 1)[-1]
    path = path[path.index("/") :]
    order_page = await browser.get(path)
    assert order_page.status_code == 200
    assert "Lost loaf" in await order_page.get_data(as_text=True)

    # Another browser is told nothing.
    async with app.app_context():
        stranger = browser_with(app, "someone-else-" + "s" * 20)
    assert 'data-notice="unpaid_orders"' not in await cart_page(stranger)

    # Once the order is no longer waiting for payment, the notice goes.
    await db.execute(update(Order).where(Order.id == order_id).values(status="expired"))
    await db.commit()
    assert 'data-notice="unpaid_orders"' not in await cart_page(browser)


async def test_a_member_is_told_of_their_unpaid_order(make_app: AppMaker, db: AsyncSession) -> None:
    app = await make_app("cart")
    member = await signed_in(app, db, "lost_member")
    order_id = await placed_without_an_answer(
        db,
        CartOwner(user_id=member.user_id),
        "Member loaf",  # type: ignore[attr-defined]
    )
    html = await cart_page(member)
    assert 'data-notice="unpaid_orders"' in html
    assert re.search(rf'href="[^"?]*/orders/{order_id}" data-order="{order_id}"', html)
