"""The page cache as Chromium meets it (decisions 0091, 0092): after its first page a real
browser's next pages are cache hits, with whatever cookies the platform left it; once it has a
cart, the page is the one cached for everyone with a cart and its own count is filled in by htmx.

This runs against its own platform (market, cart, federation under Hypercorn, the page cache on,
tests/cart/conftest.py); its market page for a product shows the shared "Add to cart" macro.
"""

from __future__ import annotations

from playwright.async_api import Page, expect
from sqlalchemy import delete

from shared.models import CartItem
from tests.cart.conftest import shop  # noqa: F401 - the fixture
from tests.cart.factories import Shop


async def test_a_browser_is_served_from_the_cache_and_sees_its_own_cart(
    shop: Shop,  # noqa: F811 - the fixture
    page: Page,
) -> None:
    shop.platform.env.update(ROSE_PAGECACHE__ENABLED="true")
    await shop.serve("market", "cart")
    product = await shop.product(stock=5, price_minor=180, title="Rhubarb crowns")
    home = f"{shop.url('market')}/"

    first = await page.goto(home)  # never signed in: no silent sign-on check (0113)
    assert first is not None
    assert first.ok
    assert first.request.redirected_from is None
    again = await page.goto(home)
    assert again is not None
    assert again.request.redirected_from is None
    assert again.headers.get("x-rose-cache") == "hit", await page.context.cookies()
    await expect(page.locator(".cart-count")).to_have_text("0")

    try:
        await page.goto(f"{shop.url('market')}/test-product/{product}")
        await page.get_by_role("button", name="Add to cart").click()
        await expect(page.locator(".cart-count")).to_have_text("1")

        await page.goto(home)  # the copy for everyone with a cart, rendered once
        cached = await page.goto(home)
        assert cached is not None
        assert cached.headers.get("x-rose-cache") == "hit"
        assert "data-count" not in await cached.text()
        # The browser fills in its own count from /cart-mini (htmx, under the pages' CSP).
        await expect(page.locator(".cart-count")).to_have_text("1")
        await expect(page.locator(".cart-total")).to_have_text("£1.80")
    finally:
        async with shop.sessions.begin() as db:  # the apps committed the cart line
            await db.execute(
                delete(CartItem).where(CartItem.kind == "product", CartItem.item_id == product)
            )
