"""Journey 4, events, on the demo site. The free half: a member finds a repeating event in the
month view, signs in, books a place, finds the booking with its QR code and .ics download,
and staff check the code in at the door (once: a second scan says when it was used). The paid
half: a member books a free event and buys a ticket for the paid concert through the cart
(add to cart on the event page, checkout, paying on the SumUp stand-in's hosted page), sees
both with their QR codes on the account dashboard, downloads the .ics, receives the ticket
by email, and staff check the ticket in."""

from __future__ import annotations

import re
import secrets
from email.message import EmailMessage

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import Site
from tests.support import eventually

PASSWORD = "soup and stories " + secrets.token_hex(4)


async def sign_in(site: Site, page: Page, username: str) -> None:
    await site.cli("user", "set-password", username, "--password", PASSWORD)
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def test_journey_4_free_booking_with_a_qr_code_checked_in_once(
    site: Site, page: Page, browser: Browser
) -> None:
    await page.goto(site.url("events", "/month"))
    grid = page.locator(".month-calendar")
    await expect(grid.get_by_role("link", name=re.compile("Repair Café")).first).to_be_visible()

    await page.goto(site.url("events", "/"))
    await page.get_by_role("link", name="Soup & stories").first.click()
    await expect(page.locator("main#content h1")).to_have_text("Soup & stories")
    event_url = page.url
    await page.get_by_role("link", name="Sign in").last.click()
    await sign_in(site, page, "alice")
    await page.wait_for_url(re.compile(re.escape(site.url("events", "/events/soup-stories"))))
    await page.get_by_role("button", name="Book").click()
    await expect(page.get_by_role("status")).to_have_text("You are booked in.")
    assert page.url.split("?")[0] == event_url.split("?")[0]

    await page.get_by_role("link", name="All your bookings and codes").click()
    entry = page.locator("li.entry").first
    await expect(entry).to_contain_text("Soup & stories")
    qr = entry.get_by_role("img")
    await expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    code = (await entry.locator("code.code").text_content() or "").strip()
    assert len(code) >= 20
    async with page.expect_download() as download:
        await entry.get_by_role("link", name=".ics").click()
    assert (await download.value).suggested_filename == "soup-stories.ics"

    staff_context = await browser.new_context()
    staff = await staff_context.new_page()
    try:
        await staff.goto(site.url("events", "/editor/check-in"))
        await sign_in(site, staff, "editor")
        await staff.wait_for_url(site.url("events", "/editor/check-in"))
        await staff.get_by_label("Code").fill(code)
        await staff.get_by_role("button", name="Check in").click()
        await expect(staff.get_by_role("status")).to_contain_text("Admitted")
        await staff.get_by_label("Code").fill(code)
        await staff.get_by_role("button", name="Check in").click()
        await expect(staff.get_by_role("alert")).to_contain_text("Already used at")
    finally:
        await staff_context.close()


async def check_in_twice(site: Site, browser: Browser, code: str) -> None:
    """Staff scan ``code`` at the door: admitted once, and the second scan says when."""
    staff_context = await browser.new_context()
    staff = await staff_context.new_page()
    try:
        await staff.goto(site.url("events", "/editor/check-in"))
        await sign_in(site, staff, "editor")
        await staff.wait_for_url(site.url("events", "/editor/check-in"))
        await staff.get_by_label("Code").fill(code)
        await staff.get_by_role("button", name="Check in").click()
        await expect(staff.get_by_role("status")).to_contain_text("Admitted")
        await staff.get_by_label("Code").fill(code)
        await staff.get_by_role("button", name="Check in").click()
        await expect(staff.get_by_role("alert")).to_contain_text("Already used at")
    finally:
        await staff_context.close()


async def email_with_subject(site: Site, to: str, subject: str) -> EmailMessage:
    def found() -> list[EmailMessage]:
        return [m for m in site.mail.to(to) if m["Subject"] == subject]

    await eventually(found, f"an email {subject!r} to {to}", every_s=0.2)
    return found()[0]


async def test_journey_4_paid_ticket_through_the_cart_listed_in_account_and_checked_in(
    site: Site, page: Page, browser: Browser
) -> None:
    # A free booking first (the folk session), signing in from the event page.
    await page.goto(site.url("events", "/events/folk-session"))
    await page.get_by_role("link", name="Sign in").last.click()
    await sign_in(site, page, "alice")
    await page.wait_for_url(re.compile(re.escape(site.url("events", "/events/folk-session"))))
    await page.get_by_role("button", name="Book").click()
    await expect(page.get_by_role("status")).to_have_text("You are booked in.")

    # The paid concert: a Standard ticket into the cart from the event page.
    await page.goto(site.url("events", "/events/winter-concert"))
    await expect(page.locator("main#content h1")).to_have_text("Winter concert")
    await page.get_by_role("button", name="Add Standard ticket to cart").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Added to your cart: Winter concert — Standard"
    )
    await page.get_by_role("link", name="View cart").click()
    await expect(page.locator("main h1")).to_have_text("Cart")
    await expect(page.locator(".cart-total-amount")).to_have_text("£12.00")
    await page.get_by_role("link", name="Check out").click()
    await expect(page.locator("main h1")).to_have_text("Checkout")
    await expect(page.get_by_label("Email (for your receipt)")).to_have_value("alice@rose-ash.test")
    await page.get_by_role("button", name="Place order and pay").click()
    await expect(page.get_by_role("heading", name="TEST PAYMENT")).to_be_visible()
    await page.get_by_role("button", name="Pay (test)").click()
    await page.wait_for_url(re.compile(re.escape(site.url("cart", "/orders/")) + r"\d+"))
    await expect(page.locator(".order-status")).to_have_text("paid")

    # The ticket arrives by email: its code, its QR code and the .ics link.
    mail = await email_with_subject(site, "alice@rose-ash.test", "Your ticket: Winter concert")
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"Code: (\S+)", text)
    assert found, text
    code = found.group(1)
    assert "/events/winter-concert/event.ics" in text
    assert any(p.get_content_type() == "image/png" for p in mail.walk())

    # Both on the account dashboard, each with its QR code; the .ics downloads.
    await page.goto(site.url("account", "/"))
    tickets = page.locator("#tickets")
    concert = tickets.locator("li", has_text="Winter concert — Standard")
    folk = tickets.locator("li", has_text="Folk session")
    await expect(concert).to_be_visible()
    await expect(folk.first).to_be_visible()
    for entry in (concert, folk.first):
        qr = entry.get_by_role("img")
        await expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    async with page.expect_download() as download:
        await concert.get_by_role("link", name="Add to calendar (.ics)").click()
    assert (await download.value).suggested_filename == "winter-concert.ics"

    await check_in_twice(site, browser, code)
