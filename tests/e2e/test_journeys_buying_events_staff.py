"""Journeys that feel right, walked as a person would at desktop (1280 px) and phone (390 px)
width on the demo site:

- buying: sold-out products say so on a disabled button, a product page says its summary once
  and its unit in words, "Place order and pay" lands on SumUp's page (the stand-in) and coming
  back shows one state; a ticket-only order asks neither collection nor delivery, and its
  receipt says nothing of collection;
- events: times in the site's zone, named; feeds and downloads are downloads, not blank
  pages; an event page offers Add to calendar (.ics, webcal, Google, Outlook);
- staff: a Staff menu in every app's header, the admin home listing every staff page, the
  platform's status page saying every app is ready, the order desk saying what happened in
  words; the editor's Image and Embed buttons put a picture, a product and an event in a post.

``ROSE_E2E_SCREENSHOTS=<dir>`` keeps a screenshot of each step there (for looking at them).
"""

from __future__ import annotations

import io
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, Locator, Page, expect

from tests.e2e.conftest import Site, _page, open_header_menu
from tests.e2e.test_events import email_with_subject

PASSWORD = "plain words please " + secrets.token_hex(3)
WIDTHS = {"desktop": 1280, "phone": 390}
NOT_HEARD = "We have not heard from SumUp"


@pytest.fixture(params=list(WIDTHS))
async def sized(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A browser window as wide as a desktop's or a phone's; the test runs once for each."""
    width = WIDTHS[request.param]
    async for p in _page(browser, request, viewport={"width": width, "height": 900}):  # type: ignore[arg-type]
        yield p


async def shoot(page: Page, name: str) -> None:
    folder = os.environ.get("ROSE_E2E_SCREENSHOTS")
    if folder:
        width = page.viewport_size["width"] if page.viewport_size else 0
        await page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)


async def pay_on_the_stand_in(site: Site, page: Page) -> str:
    """From the checkout form: place the order, pay on SumUp's page, come back; the order id."""
    await page.get_by_role("button", name="Place order and pay").click()
    # Straight to the payment page: no stop on an order page with a link to it.
    await expect(page.get_by_role("heading", name="TEST PAYMENT")).to_be_visible()
    await shoot(page, "payment-page")
    await page.get_by_role("button", name="Pay (test)").click()
    await page.wait_for_url(re.compile(re.escape(site.url("cart", "/orders/")) + r"\d+"))
    found = re.search(r"/orders/(\d+)", page.url)
    assert found is not None
    # One state: paid, said once, and nothing beside it says otherwise.
    await expect(page.locator(".order-status")).to_have_text("paid")
    await expect(page.locator(".payment-state")).to_have_text(
        "Thank you: your payment was received."
    )
    await expect(page.get_by_text(NOT_HEARD)).to_have_count(0)
    # Times in the site's zone, named.
    await expect(page.locator("main")).to_contain_text(re.compile(r"\d\d:\d\d (GMT|BST)"))
    await expect(page.locator("main")).not_to_contain_text("UTC")
    await shoot(page, "order-paid")
    return found.group(1)


async def test_buying_sold_out_product_pages_straight_to_payment_and_tickets_only(
    site: Site, sized: Page
) -> None:
    page = sized
    # A sold-out product: the button is there, disabled, with the reason beside it.
    await page.goto(site.url("market", "/products/lemon-drizzle"))
    add = page.get_by_role("button", name="Add to cart")
    await expect(add).to_be_disabled()
    await expect(page.locator(".add-to-cart__why")).to_have_text("Sold out")
    await expect(add).to_have_accessible_description("Sold out")
    await shoot(page, "sold-out")

    # A product page: its summary once, its unit in words.
    await page.goto(site.url("market", "/products/sourdough-loaf"))
    main = page.locator("main#content")
    await expect(
        main.get_by_text("A slow rye sourdough with a dark, crackling crust.")
    ).to_have_count(1)
    await expect(main.locator(".product__unit")).to_have_text("Weighs 800 g")
    await expect(main).not_to_contain_text("Sold by")
    await shoot(page, "product")
    await page.get_by_role("button", name="Add to cart").click()
    await expect(page.get_by_role("status")).to_contain_text("Added to your cart")

    # Checkout asks how to hand it over (a loaf is physical); placing goes to payment.
    tag = secrets.token_hex(3)
    await page.goto(site.url("cart", "/checkout"))
    await page.get_by_label("Name").fill("Wren Guest")
    await page.get_by_label("Email (for your receipt)").fill(f"wren-{tag}@guests.rose-ash.test")
    await expect(page.get_by_role("group", name="How do you want it?")).to_be_visible()
    await page.get_by_label("Collect it at the cooperative").check()
    await pay_on_the_stand_in(site, page)
    await expect(page.get_by_text("Collection at the cooperative.")).to_be_visible()

    # Tickets only: no collection or delivery, no address, and the receipt says none.
    await page.goto(site.url("events", "/events/winter-concert"))
    await page.get_by_role("button", name="Add Standard ticket to cart").click()
    await expect(page.get_by_role("status")).to_contain_text("Added to your cart")
    await page.goto(site.url("cart", "/checkout"))
    buyer = f"sam-{tag}@guests.rose-ash.test"
    await page.get_by_label("Name").fill("Sam Guest")
    await page.get_by_label("Email (for your receipt)").fill(buyer)
    await expect(page.get_by_text("How do you want it?")).to_have_count(0)
    await expect(page.get_by_label("Delivery address (for delivery)")).to_have_count(0)
    await shoot(page, "checkout-tickets-only")
    await pay_on_the_stand_in(site, page)
    await expect(page.locator("main")).not_to_contain_text("Collection")
    order_id = re.search(r"/orders/(\d+)", page.url).group(1)  # type: ignore[union-attr]
    receipt = await email_with_subject(site, buyer, f"Your Rose Ash order {order_id}")
    for part in receipt.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            assert "Collection" not in part.get_content()
    ticket = await email_with_subject(site, buyer, "Your ticket: Winter concert")
    text = ticket.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Collection" not in text
    assert re.search(r"When: .*\d\d:\d\d \((GMT|BST)\)", text), text


async def test_events_in_local_time_downloads_and_add_to_calendar(site: Site, sized: Page) -> None:
    page = sized
    await page.goto(site.url("events"))
    await expect(page.locator("main#content h1")).to_have_text("Events")
    # The feed downloads; the page stays as it was (not blanked by a boosted swap).
    async with page.expect_download() as feed:
        await page.get_by_role("link", name="iCalendar feed").click()
    assert (await feed.value).suggested_filename == "events.ics"
    await expect(page.locator("main#content h1")).to_have_text("Events")
    subscribe = page.get_by_role("link", name="subscribe").first
    await expect(subscribe).to_have_attribute("href", re.compile(r"^webcal://.*/events\.ics$"))

    await page.get_by_role("link", name="Winter concert").first.click()
    await expect(page.locator("main#content h1")).to_have_text("Winter concert")
    # Its time in the zone it happens in, named.
    await expect(page.locator(".when")).to_contain_text(re.compile(r"19:00.*22:00 (GMT|BST)"))
    links = page.locator(".add-to-calendar")
    await expect(links.get_by_role("link", name="Google Calendar")).to_have_attribute(
        "href", re.compile(r"^https://calendar\.google\.com/calendar/render\?action=TEMPLATE&")
    )
    await expect(links.get_by_role("link", name="Outlook")).to_have_attribute(
        "href", re.compile(r"^https://outlook\.live\.com/calendar/0/action/compose\?")
    )
    await expect(links.get_by_role("link", name="Apple / webcal")).to_have_attribute(
        "href", re.compile(r"^webcal://.*/events/winter-concert/event\.ics$")
    )
    await shoot(page, "event")
    async with page.expect_download() as ics:
        await links.get_by_role("link", name="Download .ics").click()
    assert (await ics.value).suggested_filename == "winter-concert.ics"
    await expect(page.locator("main#content h1")).to_have_text("Winter concert")


def staff_menu(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Your account").locator("details.staff-menu")


async def sign_in(site: Site, page: Page, username: str) -> None:
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


def png_file(tmp: Path) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (176, 48, 96)).save(out, format="PNG")
    path = tmp / "red.png"
    path.write_bytes(out.getvalue())
    return path


async def test_staff_find_every_page_from_the_header_and_embed_in_a_post(
    site: Site, sized: Page, tmp_path: Path
) -> None:
    page = sized
    admin = f"keeper_{secrets.token_hex(3)}"
    await site.cli(
        "user", "create", "--email", f"{admin}@members.rose-ash.test", "--username", admin,
        "--admin", "--password", PASSWORD,
    )  # fmt: skip
    await page.goto(site.url("market"))
    await open_header_menu(page)
    await (
        page.get_by_role("navigation", name="Your account")
        .get_by_role("link", name="Sign in")
        .click()
    )
    await sign_in(site, page, admin)
    await page.wait_for_url(re.compile(re.escape(site.url("market"))))

    # A Staff menu in the header of every app, leading to the admin home.
    for app in ("market", "events", "cart", "blog"):
        await page.goto(site.url(app))
        await open_header_menu(page)
        await expect(staff_menu(page)).to_be_visible()
    await staff_menu(page).locator("summary").click()
    await expect(staff_menu(page).get_by_role("link", name="Orders")).to_be_visible()
    await shoot(page, "staff-menu")
    await staff_menu(page).get_by_role("link", name="Admin home").click()
    await page.wait_for_url(site.url("federation", "/admin/"))
    await expect(page.locator("main#content h1")).to_have_text("Admin")
    for title in (
        "Posts and pages",
        "Market",
        "Events",
        "Newsletters",
        "Orders",
        "Accounts and roles",
    ):
        await expect(
            page.locator("main").get_by_role("link", name=title, exact=True)
        ).to_be_visible()
    await shoot(page, "admin-home")

    # The platform's status, in words: every app ready, the queues, the last runs.
    await page.locator("main").get_by_role("link", name="Platform status", exact=True).click()
    await page.wait_for_url(site.url("federation", "/admin/status"))
    await expect(page.locator("main#content h1")).to_have_text("Platform status")
    for app in ("Blog", "Market", "Cart", "Events", "Federation", "Account"):
        await expect(page.locator("main")).to_contain_text(f"{app} is ready.")
    await shoot(page, "admin-status")
    await page.goto(site.url("federation", "/admin/"))

    # The order desk says what happened in words.
    await page.locator("main").get_by_role("link", name="Orders", exact=True).click()
    await page.wait_for_url(site.url("cart", "/admin/orders"))
    await page.locator("main").get_by_role("link", name="paid", exact=True).click()
    await page.wait_for_url(site.url("cart", "/admin/orders?status=paid"))
    await expect(page.locator("table.admin-orders tbody tr").first).to_contain_text("paid")
    first = page.locator("table.admin-orders tbody tr").first.get_by_role("link")
    order_id = (await first.inner_text()).strip()
    await first.click()
    await page.wait_for_url(site.url("cart", f"/admin/orders/{order_id}"))
    await page.get_by_role("button", name="Mark fulfilled").click()
    await expect(page.get_by_role("status")).to_have_text(f"Order {order_id} marked fulfilled.")
    await shoot(page, "order-fulfilled")

    # The editor: an image uploaded into the body, a product and an event embedded.
    await page.goto(site.url("blog", "/editor/posts/new"))
    title = "Winter market " + secrets.token_hex(3)
    await page.get_by_label("Title").fill(title)
    toolbar = page.get_by_role("toolbar", name="Formatting")
    body = page.get_by_role("textbox", name="Body (HTML)")
    await body.click()
    await page.keyboard.type("Come and see us.")
    page.once("dialog", lambda dialog: dialog.accept("A red square"))
    async with page.expect_file_chooser() as chooser:
        await toolbar.get_by_role("button", name="Image").click()
    await (await chooser.value).set_files(str(png_file(tmp_path)))
    await expect(body.locator("img[alt='A red square']")).to_have_attribute(
        "src", re.compile(r"^/media/images/[0-9a-f]{64}\.png$")
    )
    for query, choice in (
        ("Winter", "Event: Winter concert"),
        ("Sourdough", "Product: Sourdough loaf"),
    ):
        await toolbar.get_by_role("button", name="Embed").click()
        await page.get_by_label("Find a product, an event or a widget").fill(query)
        await page.get_by_role("button", name=re.compile("^" + re.escape(choice))).click()
    await expect(body).to_contain_text("[event:winter-concert]")
    await expect(body).to_contain_text("[product:sourdough-loaf]")
    await shoot(page, "editor")
    await page.get_by_role("button", name="Create draft").click()
    await page.wait_for_url(re.compile(re.escape(site.url("blog", "/editor/posts/")) + r"\d+$"))
    await page.get_by_role("link", name="Preview").click()
    post = page.locator(".post-body")
    await expect(post.locator("img[alt='A red square']")).to_be_visible()
    await expect(
        post.locator(".event-card").get_by_role("link", name="Winter concert")
    ).to_be_visible()
    await expect(
        post.locator(".product-card").get_by_role("link", name="Sourdough loaf")
    ).to_be_visible()
    await shoot(page, "post-preview")
