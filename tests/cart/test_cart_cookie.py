"""The anonymous cart key: a signed cookie any app verifies; a forged or tampered one is
ignored (a stranger's cart cannot be read by guessing or editing a cookie)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CartOwner
from shared.infrastructure.cart_web import COOKIE, sign_cart_key, verify_cart_cookie
from shared.infrastructure.context import services
from shared.models import Product
from tests.support.settings import AppMaker


async def test_only_a_correctly_signed_cart_cookie_names_a_cart(
    make_app: AppMaker, db: AsyncSession
) -> None:
    product = Product(slug="cookie-bread", title="Cookie test loaf", price_minor=300, stock=5)
    db.add(product)
    await db.flush()
    key = "visitor-key-" + "a" * 20
    await services().cart.add(db, CartOwner(cart_key=key), "product", product.id, 2)
    await db.commit()

    cart = await make_app("cart")
    market = await make_app("market")
    async with cart.app_context():
        signed = sign_cart_key(key)
        assert verify_cart_cookie(signed) == key
        assert verify_cart_cookie(signed[:-1] + ("0" if signed[-1] != "0" else "1")) is None
        assert verify_cart_cookie(key) is None
        assert verify_cart_cookie("../../etc." + signed.rsplit(".", 1)[1]) is None
    async with market.app_context():
        # Another app verifies the same cookie: the key is derived for the cart, not per app.
        assert verify_cart_cookie(signed) == key

    client = cart.test_client()
    client.set_cookie("localhost", COOKIE, signed)
    page = await client.get("/")
    assert "Cookie test loaf" in (await page.get_data(as_text=True))

    forged = cart.test_client()
    forged.set_cookie("localhost", COOKIE, key + "." + "0" * 32)
    page = await forged.get("/")
    body = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Cookie test loaf" not in body
    assert "Your cart is empty" in body
