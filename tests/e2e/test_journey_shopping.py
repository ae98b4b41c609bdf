"""Journeys 3 and 7 on the demo site (`rose-ash up --demo`, SumUp stand-in, the suite's SMTP
server): a guest browses the market's product pages and fills a cart, signs in and finds the
cart merged into the member's, checks out, pays on the stand-in's hosted page, comes back to
a paid order, finds it on the account dashboard and its page there (with a printable
receipt), has the receipt email; staff refund part of it in the cart's /admin/orders, and the
member's order page shows the refund. Journey 7 is the same with JavaScript disabled, and
journey 2's navigation as plain page loads."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.e2e.conftest import Site, _page
from tests.support import link_in

PASSWORD = "a basket of plums " + secrets.token_hex(3)


@pytest.fixture
async def plain_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A browser with JavaScript disabled (plain HTML)."""
    async for p in _page(browser, request, java_script_enabled=False):
        yield p


@pytest.fixture
async def staff_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A second browser, for the cooperative's staff."""
    async for p in _page(browser, request):
        yield p


async def at_url(page: Page, url: str | re.Pattern[str]) -> None:
    """Arrived at ``url`` (a string is the whole address). Polls the address rather than
    waiting for a load event: single sign-on trips pass through the same origin first."""
    pattern = url if isinstance(url, re.Pattern) else re.compile("^" + re.escape(url) + "$")
    await expect(page).to_have_url(pattern)


def account_menu(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Your account")


async def sign_in_at_federation(site: Site, page: Page, login: str) -> None:
    await at_url(page, re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill(login)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def add_from_product_page(
    site: Site, page: Page, slug: str, title: str, count: int, *, javascript: bool
) -> None:
    await page.goto(site.url("market", f"/products/{slug}"))
    await expect(page.locator("main#content h1")).to_have_text(title)
    await page.get_by_role("button", name="Add to cart").click()
    if javascript:
        # htmx: the form says so in place and the header's mini cart follows.
        await expect(page.get_by_role("status")).to_contain_text(f"Added to your cart: {title}")
        assert f"/products/{slug}" in page.url
    else:
        # Plain HTML: the form posts and the browser lands on the cart page.
        await at_url(page, re.compile(re.escape(site.url("cart", "/?notice=added"))))
    await expect(page.locator(".cart-count")).to_have_text(str(count))


async def shop_and_pay(site: Site, page: Page, staff: Page, *, javascript: bool) -> None:
    tag = secrets.token_hex(3)
    username, name = f"plum_{tag}", f"Plum Picker {tag}"
    email = f"{username}@members.rose-ash.test"
    await site.cli(
        "user", "create", "--email", email, "--username", username,
        "--display-name", name, "--password", PASSWORD,
    )  # fmt: skip

    # A guest fills a cart from the market's own product pages.
    await add_from_product_page(
        site, page, "sourdough-loaf", "Sourdough loaf", 1, javascript=javascript
    )
    await add_from_product_page(
        site, page, "white-bloomer", "White bloomer", 2, javascript=javascript
    )
    await page.goto(site.url("cart"))
    await expect(page.locator("main h1")).to_have_text("Cart")
    await expect(page.locator(".cart-total-amount")).to_have_text("£7.70")

    # Signing in (from the cart page) brings the guest's cart into the member's.
    await account_menu(page).get_by_role("link", name="Sign in").click()
    await sign_in_at_federation(site, page, username)
    await at_url(page, site.url("cart"))
    await expect(account_menu(page).get_by_role("link", name=name)).to_be_visible()
    await expect(page.locator(".cart-line")).to_have_count(2)
    await expect(page.locator(".cart-total-amount")).to_have_text("£7.70")

    # Checkout: the member's details are filled in.
    await page.get_by_role("link", name="Check out").click()
    await expect(page.locator("main h1")).to_have_text("Checkout")
    await expect(page.get_by_label("Name")).to_have_value(name)
    await expect(page.get_by_label("Email (for your receipt)")).to_have_value(email)
    await page.get_by_label("Collect it at the cooperative").check()
    # Placing the order goes straight to the stand-in's hosted page, clearly a test; paying
    # there comes back to a paid order.
    await page.get_by_role("button", name="Place order and pay").click()
    await expect(page.get_by_role("heading", name="TEST PAYMENT")).to_be_visible()
    await page.get_by_role("button", name="Pay (test)").click()
    await at_url(page, re.compile(re.escape(site.url("cart", "/orders/")) + r"\d+"))
    found = re.search(r"/orders/(\d+)", page.url)
    assert found is not None, page.url
    order_id = found.group(1)
    await expect(page.locator(".order-status")).to_have_text("paid")
    await expect(page.locator(".cart-count")).to_have_text("0")

    # The order in the member's account: its page, and the dashboard's list.
    await page.get_by_role("link", name="This order in your account").click()
    await at_url(page, site.url("account", f"/orders/{order_id}"))
    await expect(page.locator("main#content h1")).to_have_text(f"Order #{order_id}")
    await expect(page.locator(".order-status")).to_have_text("Paid")
    await expect(page.locator(".order-total")).to_have_text("£7.70")
    await expect(page.locator(".order-line")).to_have_count(2)
    await expect(page.locator("tr.payment[data-status='PAID']")).to_have_count(1)
    await page.get_by_role("link", name="Printable receipt").click()
    await expect(page.locator("h1")).to_have_text(f"Receipt for order #{order_id}")
    await page.goto(site.url("account"))
    row = page.locator(f"#orders tr[data-order-id='{order_id}']")
    await expect(row.locator(".order-status")).to_have_text("paid")
    await expect(row).to_contain_text("£7.70")
    await row.get_by_role("link", name=f"#{order_id}").click()
    await at_url(page, site.url("account", f"/orders/{order_id}"))

    # The receipt email arrived, and links to the order in the account.
    receipt = await site.mail.wait_for(email)
    body = receipt.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert f"Order {order_id}" in body
    assert "£7.70" in body
    assert link_in(receipt).startswith(site.url("account", f"/orders/{order_id}"))

    # Staff refund the bloomer in the cart's admin.
    admin = f"staff_{tag}"
    await site.cli(
        "user", "create", "--email", f"{admin}@members.rose-ash.test", "--username", admin,
        "--admin", "--password", PASSWORD,
    )  # fmt: skip
    await staff.goto(site.url("cart", "/admin/orders"))
    await sign_in_at_federation(site, staff, admin)
    await at_url(staff, site.url("cart", "/admin/orders"))
    await staff.get_by_role("link", name=order_id, exact=True).click()
    await expect(staff.locator("main h1")).to_have_text(f"Order {order_id}")
    await staff.get_by_label(re.compile("^Amount to refund")).fill("3.20")
    await staff.get_by_label("Reason").fill("Bloomer sold out")
    await staff.get_by_role("button", name="Refund through SumUp").click()
    await expect(staff.locator(".order-status")).to_have_text("partly refunded")

    # The member sees it on their order.
    await page.reload()
    await expect(page.locator(".order-status")).to_have_text("Partly refunded")
    await expect(page.locator(".order-refunded")).to_have_text("£3.20")
    await expect(page.locator("li.refund")).to_contain_text("Bloomer sold out")


async def test_journey_3_shopping_on_the_demo_site(
    site: Site, page: Page, staff_page: Page
) -> None:
    await shop_and_pay(site, page, staff_page, javascript=True)


async def test_journey_7_shopping_without_javascript(
    site: Site, plain_page: Page, staff_page: Page
) -> None:
    await shop_and_pay(site, plain_page, staff_page, javascript=False)


async def test_journey_7_navigation_without_javascript(site: Site, plain_page: Page) -> None:
    """Journey 2's links as plain page loads: each arrives whole, history works."""
    page = plain_page
    home, post = site.url("blog"), site.url("blog", "/posts/welcome-to-rose-ash")

    async def at(url: str, h1: str, title: str) -> None:
        await at_url(page, url)
        await expect(page.locator("main#content h1")).to_have_text(h1)
        await expect(page).to_have_title(title)
        await expect(page.get_by_role("navigation", name="Site")).to_be_visible()

    await page.goto(home)
    await at(home, "Blog", "Blog · Rose Ash")
    await page.get_by_role("link", name="Welcome to Rose Ash").first.click()
    await at(post, "Welcome to Rose Ash", "Welcome to Rose Ash · Rose Ash")
    await (
        page.locator(".post-footer")
        .get_by_role("list", name="Tags")
        .get_by_role("link", name="News")
        .click()
    )
    await at(site.url("blog", "/tag/news"), "News", "News · Rose Ash")
    await page.go_back()
    await at(post, "Welcome to Rose Ash", "Welcome to Rose Ash · Rose Ash")
    await page.go_back()
    await at(home, "Blog", "Blog · Rose Ash")
    await page.go_forward()
    await at(post, "Welcome to Rose Ash", "Welcome to Rose Ash · Rose Ash")
    await page.get_by_role("navigation", name="Site").get_by_role("link", name="Market").click()
    await at_url(page, site.url("market"))
    await expect(page.locator("header.site-header")).to_be_visible()
