"""Signing in, signing up, errors and the member's records, walked as a person would on the
demo site, at desktop (1280 px) and phone (390 px) width:

* sign-in returns to the page where "Sign in" was clicked, on whichever app, and that first
  page already names the member in its header;
* after signing in anywhere, the apps visited before recognise the member on their next page;
* the emailed verification link signs in and returns to where sign-up began;
* "Community" leads to the social hub (local timeline for visitors, home for members);
* error pages keep the header; a bad price filter and checkout and sign-up show every
  problem beside its field;
* the account app's orders, tickets and bookings pages, each member's own.

Set ROSE_E2E_SHOTS to a directory to keep a screenshot of each step there.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.e2e.conftest import Site, _save_artifacts, open_header_menu
from tests.support import link_in

PASSWORD = "a walk round the orchard " + secrets.token_hex(3)
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
SHOTS = os.environ.get("ROSE_E2E_SHOTS")
if SHOTS:
    Path(SHOTS).mkdir(parents=True, exist_ok=True)

NewPage = Callable[[], Awaitable[Page]]


@pytest.fixture(scope="session")
async def warm(site: Site, browser: Browser) -> Site:
    """Each app's first page after start-up, in a throwaway browser: a cold app can take
    longer than the fragment timeout to answer the first time, leaving that one page's header
    empty, which is not what these journeys are about."""
    context = await browser.new_context()
    page = await context.new_page()
    for app in ("blog", "market", "cart", "events", "federation", "account"):
        await page.goto(site.url(app))
    await context.close()
    return site


@pytest.fixture(params=list(WIDTHS))
async def browsers(
    browser: Browser, warm: Site, request: pytest.FixtureRequest
) -> AsyncIterator[NewPage]:
    """Fresh browsers (each its own cookies) at the test's width."""
    width = str(request.param)
    pages: list[Page] = []

    async def new_page() -> Page:
        context = await browser.new_context(
            viewport=WIDTHS[width], is_mobile=width == "phone", has_touch=width == "phone"
        )
        page = await context.new_page()
        page.width_name = width  # type: ignore[attr-defined]
        pages.append(page)
        return page

    yield new_page
    report = getattr(request.node, "rep_call", None)
    for i, page in enumerate(pages):
        if report is not None and report.failed:
            await _save_artifacts(page, f"{request.node.nodeid}-{i}")
        await page.context.close()


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        width = getattr(page, "width_name", "page")
        await page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)


def account_menu(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Your account")


def site_menu(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Site")


async def at_url(page: Page, url: str | re.Pattern[str]) -> None:
    """Arrived at ``url`` (a string is the whole address); polls, since single sign-on trips
    pass through other addresses first."""
    pattern = url if isinstance(url, re.Pattern) else re.compile("^" + re.escape(url) + "$")
    await expect(page).to_have_url(pattern)


async def named_in_header(page: Page, name: str) -> None:
    await open_header_menu(page)
    await expect(account_menu(page).get_by_role("link", name=name)).to_be_visible()
    await expect(account_menu(page).get_by_role("link", name="Sign in")).to_have_count(0)


async def anonymous_in_header(page: Page) -> None:
    await open_header_menu(page)
    await expect(account_menu(page).get_by_role("link", name="Sign in")).to_be_visible()


async def member(site: Site, tag: str) -> tuple[str, str]:
    """A verified member made with the CLI: (username, display name)."""
    username, name = f"wren_{tag}", f"Wren Walker {tag}"
    await site.cli(
        "user", "create", "--email", f"{username}@members.rose-ash.test",
        "--username", username, "--display-name", name, "--password", PASSWORD,
    )  # fmt: skip
    return username, name


async def sign_in_here(site: Site, page: Page, login: str) -> None:
    """Click the header's "Sign in" and fill in federation's form."""
    await open_header_menu(page)
    await account_menu(page).get_by_role("link", name="Sign in").click()
    await at_url(page, re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill(login)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_up_lands_where_you_were_and_every_app_knows_you(
    site: Site, browsers: NewPage
) -> None:
    page = await browsers()
    tag = secrets.token_hex(3)
    username, name = f"juniper_{tag}", f"Juniper Berry {tag}"
    email = f"{username}@members.rose-ash.test"

    # Looking around before signing in: blog and a market product, each checked once.
    blog_page = site.url("blog", f"/?walk={tag}")
    product = site.url("market", "/products/sourdough-loaf")
    for url in (blog_page, product):
        await page.goto(url)
        await at_url(page, url)
        await anonymous_in_header(page)

    # "Sign in" on the events page; no account yet, so "Create an account".
    began = site.url("events", "/")
    await page.goto(began)
    await open_header_menu(page)
    await account_menu(page).get_by_role("link", name="Sign in").click()
    await at_url(page, re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_role("link", name="Create an account").click()
    await expect(page.locator("main h1")).to_have_text("Create an account")

    # Three mistakes: all three shown at once, each beside its field.
    await page.get_by_label("Email address", exact=True).fill("juniper@localhost")
    await page.get_by_label("Username").fill("juniper berry")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    for field, says in (
        ("email", "valid email address"),
        ("username", "letters, digits or underscores"),
        ("password", "at least"),
    ):
        beside = page.locator(f"#e-{field}")
        await expect(beside).to_be_visible()
        await expect(beside).to_contain_text(says)
        await expect(page.locator(f"#f-{field}")).to_have_attribute(
            "aria-describedby", f"e-{field}"
        )
    await expect(page.get_by_label("Your name")).to_have_value(name)
    await shot(page, "signup-errors")
    await page.get_by_label("Email address", exact=True).fill(email)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("main h1")).to_have_text("Check your email")

    # The link from the email: one click confirms, signs in and returns to the events page.
    link = link_in(await site.mail.wait_for(email))
    await page.goto(link)
    await expect(page.locator("main h1")).to_have_text("Confirm your email address")
    await shot(page, "verify")
    await page.get_by_role("button", name="Confirm and sign in").click()
    await at_url(page, began)
    await named_in_header(page, name)
    await shot(page, "verified-back-on-events")

    # The apps seen before signing in know the member now, without a click.
    for url in (blog_page, product):
        await page.goto(url)
        await at_url(page, url)
        await named_in_header(page, name)

    # "Community" is the social hub: the member's home timeline.
    await open_header_menu(page)
    await site_menu(page).get_by_role("link", name="Community").click()
    await at_url(page, site.url("federation", "/"))
    await expect(page.locator("main h1")).to_have_text("Home")
    await named_in_header(page, name)
    await shot(page, "community-member")

    # The link has done its work: used again, it signs nobody in.
    again = await browsers()
    await again.goto(link)
    await again.get_by_role("button", name="Confirm and sign in").click()
    await expect(again.locator("main")).to_contain_text("This link has been used")
    await anonymous_in_header(again)


async def test_sign_in_returns_to_the_page_it_was_clicked_on_with_the_member_in_the_header(
    site: Site, browsers: NewPage
) -> None:
    username, name = await member(site, secrets.token_hex(3))

    # A visitor's "Community" is the cooperative's local timeline.
    page = await browsers()
    await page.goto(site.url("blog"))
    await open_header_menu(page)
    await site_menu(page).get_by_role("link", name="Community").click()
    await at_url(page, site.url("federation", "/"))
    await expect(page.locator("main h1")).to_have_text("Local")
    await anonymous_in_header(page)
    await shot(page, "community-visitor")

    # From a market product page: back on it, named in the header, no reload needed.
    product = site.url("market", "/products/white-bloomer")
    await page.goto(product)
    await sign_in_here(site, page, username)
    await at_url(page, product)
    await expect(page.locator("main#content h1")).to_have_text("White bloomer")
    await named_in_header(page, name)
    await shot(page, "signed-in-on-product")

    # From one of federation's own pages (the sign-in form is boosted there): the same.
    other = await browsers()
    local = site.url("federation", "/social/local")
    await other.goto(local)
    await sign_in_here(site, other, username)
    await at_url(other, local)
    await named_in_header(other, name)


async def test_errors_keep_the_header_and_sit_beside_their_fields(
    site: Site, browsers: NewPage
) -> None:
    page = await browsers()

    # A missing page keeps the menu, the cart and "Sign in".
    await page.goto(site.url("market", "/no/such/page"))
    await expect(page.locator("main h1")).to_have_text("Page not found")
    await open_header_menu(page)
    await expect(site_menu(page).get_by_role("link", name="Market")).to_be_visible()
    await expect(page.locator(".cart-count")).to_be_visible()
    await anonymous_in_header(page)
    await shot(page, "not-found")

    # A bad price: the message beside the filter, the products still listed.
    await page.goto(site.url("market", "/products"))
    await page.get_by_label("Lowest price").fill("a fiver")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#e-min")).to_contain_text("must be an amount like 4.50")
    await expect(page.locator("main h1")).to_have_text("All products")
    await expect(page.get_by_label("Lowest price")).to_have_value("a fiver")
    assert await page.locator("article.product-card").count() > 0
    await shot(page, "price-filter")


async def test_checkout_errors_then_the_members_orders_tickets_and_bookings(
    site: Site, browsers: NewPage
) -> None:
    tag = secrets.token_hex(3)
    username, name = await member(site, tag)
    page = await browsers()
    await page.goto(site.url("cart"))
    await sign_in_here(site, page, username)
    await at_url(page, site.url("cart"))
    await named_in_header(page, name)

    await page.goto(site.url("market", "/products/sourdough-loaf"))
    await page.get_by_role("button", name="Add to cart").click()
    await expect(page.locator(".cart-count")).to_have_text("1")
    await page.goto(site.url("cart", "/checkout"))
    await expect(page.locator("main h1")).to_have_text("Checkout")

    # Two mistakes at once: each beside its field, what was typed kept.
    await page.get_by_label("Phone (optional)").fill("call me maybe")
    await page.get_by_label("Deliver it").check()
    await page.get_by_role("button", name="Place order and pay").click()
    await expect(page.locator("#e-phone")).to_contain_text("does not look right")
    await expect(page.locator("#e-address")).to_contain_text("delivery address")
    await expect(page.locator(".form-error li")).to_have_count(2)
    await expect(page.get_by_label("Phone (optional)")).to_have_value("call me maybe")
    await shot(page, "checkout-errors")
    await page.get_by_label("Phone (optional)").fill("01234 567890")
    await page.get_by_label("Delivery address (for delivery)").fill("1 Orchard Lane")
    await page.get_by_role("button", name="Place order and pay").click()
    await expect(page.locator("#e-phone")).to_have_count(0)

    # The order is in the account app, on the dashboard and on a page of its own.
    await page.goto(site.url("account"))
    await page.get_by_role("link", name="All your orders").click()
    await at_url(page, site.url("account", "/orders"))
    await expect(page.locator("main h1")).to_have_text("Your orders")
    await expect(page.locator("tr[data-order-id]")).to_have_count(1)
    order_id = await page.locator("tr[data-order-id]").get_attribute("data-order-id")
    await shot(page, "orders")
    await page.goto(site.url("account"))
    await page.get_by_role("link", name="Your tickets").click()
    await at_url(page, site.url("account", "/tickets"))
    await expect(page.locator("main h1")).to_have_text("Your tickets")
    await page.goto(site.url("account"))
    await page.get_by_role("link", name="Your bookings").click()
    await at_url(page, site.url("account", "/bookings"))
    await expect(page.locator("main h1")).to_have_text("Your bookings")
    await shot(page, "bookings")

    # Another member sees none of it; and the order's own page is not theirs to read.
    other_name, other_display = await member(site, tag + "b")
    other = await browsers()
    await other.goto(site.url("account"))
    await sign_in_here(site, other, other_name)
    await at_url(other, site.url("account"))
    await named_in_header(other, other_display)
    await other.get_by_role("link", name="All your orders").click()
    await at_url(other, site.url("account", "/orders"))
    await expect(other.locator("main")).to_contain_text("No orders yet.")
    await expect(other.locator("tr[data-order-id]")).to_have_count(0)
    response = await other.goto(site.url("account", f"/orders/{order_id}"))
    assert response is not None
    assert response.status == 404
    await expect(other.locator("main h1")).to_have_text("Page not found")
    await named_in_header(other, other_display)
