"""Shopping in a real browser, with and without JavaScript: "Add to cart" on a market page
(the shared macro), the header's mini cart, the cart page, checkout as a guest, paying on the
SumUp stand-in's hosted page, and back to a paid order.

This runs against its own platform (market, cart, federation under Hypercorn and the SumUp
stand-in, tests/cart/conftest.py), whose market page shows the macro for a product; journeys
3 and 7 on the demo site are tests/e2e/test_journey_shopping.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.cart.conftest import shop  # noqa: F401 - the fixture
from tests.cart.factories import Shop
from tests.support import SmtpSink


async def test_guest_buys_in_the_browser_and_pays_on_the_stand_in(
    shop: Shop,  # noqa: F811 - the fixture
    any_page: Page,
    smtp_sink: SmtpSink,
    request: pytest.FixtureRequest,
) -> None:
    page = any_page
    javascript = request.node.callspec.params["any_page"] == "javascript"
    await shop.serve("market", "cart")
    product = await shop.product(stock=4, price_minor=325, title="Plum jam")

    await page.goto(f"{shop.url('market')}/test-product/{product}")
    await expect(page.locator(".cart-count")).to_have_text("0")
    await page.get_by_role("button", name="Add to cart").click()
    if javascript:
        # htmx: the form says so in place and the header's count follows, no navigation.
        await expect(page.get_by_role("status")).to_contain_text("Added to your cart: Plum jam")
        await expect(page.locator(".cart-count")).to_have_text("1")
        await expect(page.locator(".cart-total")).to_have_text("£3.25")
        assert "/test-product/" in page.url
        await page.get_by_role("button", name="Add to cart").click()
        await expect(page.locator(".cart-count")).to_have_text("2")
        await page.get_by_role("link", name="View cart").click()
    else:
        # Plain HTML: the form posts and the browser lands on the cart page.
        await page.wait_for_url(re.compile(re.escape(shop.url("cart")) + r"/\?notice=added"))
        await page.goto(f"{shop.url('market')}/test-product/{product}")
        await page.get_by_role("button", name="Add to cart").click()
        await page.wait_for_url(re.compile(re.escape(shop.url("cart"))))

    await expect(page.locator("main h1")).to_have_text("Cart")
    await expect(page.locator(".cart-total-amount")).to_have_text("£6.50")
    await page.get_by_role("link", name="Check out").click()
    await expect(page.locator("main h1")).to_have_text("Checkout")
    await page.get_by_label("Name").fill("Wren Guest")
    await page.get_by_label("Email (for your receipt)").fill("wren@guests.rose-ash.test")
    await page.get_by_label("Deliver it").check()
    await page.get_by_label("Delivery address (for delivery)").fill("2 Hedge Row")
    # Placing the order goes straight to SumUp's page (the stand-in's).
    await page.get_by_role("button", name="Place order and pay").click()
    await expect(page.get_by_role("heading", name="TEST PAYMENT")).to_be_visible()
    await page.get_by_role("button", name="Pay (test)").click()
    await page.wait_for_url(re.compile(re.escape(shop.url("cart")) + r"/orders/\d+"))
    await expect(page.locator(".order-status")).to_have_text("paid")
    await expect(page.locator(".order-total")).to_have_text("£6.50")
    await expect(page.get_by_text("Delivery to: 2 Hedge Row")).to_be_visible()
    await expect(page.locator(".cart-count")).to_have_text("0")
    receipt = await smtp_sink.wait_for("wren@guests.rose-ash.test")
    assert "£6.50" in receipt.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert await shop.stock(product) == 2
