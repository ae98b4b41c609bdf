"""Every form shows all its problems at once, each beside its field, walked as a person would
at desktop (1280 px) and phone (390 px) width: booking an event, subscribing to a newsletter,
the social hub's profile, and an editor's event form reached from their admin home (which
lists what an editor may do, not an admin's pages); and a member's past bookings, one click
from the dashboard.

Set ROSE_E2E_SHOTS to a directory to keep a screenshot of each step there.
"""

from __future__ import annotations

import re
import secrets

from playwright.async_api import Page, expect

from tests.e2e.conftest import Site, open_header_menu
from tests.e2e.test_journey_signing_in import (
    PASSWORD,
    NewPage,
    account_menu,
    at_url,
    browsers,
    member,
    named_in_header,
    shot,
    sign_in_here,
    warm,
)

__all__ = ["browsers", "warm"]


async def beside(page: Page, field: str, says: str) -> None:
    """The problem is shown beside ``field``, which points at it, and the summary at the top
    links to the field."""
    await expect(page.locator(f"#e-{field}")).to_contain_text(says)
    await expect(page.locator(f"#f-{field}")).to_have_attribute("aria-describedby", f"e-{field}")
    await expect(page.locator(f'.form-error a[href="#f-{field}"]')).to_have_count(1)


async def test_a_members_forms_show_every_problem_beside_its_field(
    site: Site, browsers: NewPage
) -> None:
    username, name = await member(site, secrets.token_hex(3))
    page = await browsers()
    await page.goto(site.url("events"))
    await sign_in_here(site, page, username)
    await at_url(page, site.url("events"))
    await named_in_header(page, name)

    # Booking: two places (the most one person may have), then one more is refused beside
    # the number of places, on the event's own page, and nothing more is booked.
    await page.locator("main").get_by_role("link", name=re.compile("Repair Café")).first.click()
    await expect(page.locator("main#content h1")).to_have_text("Repair Café")
    places = page.get_by_role("spinbutton", name="Places")
    await places.fill("2")
    await page.get_by_role("button", name=re.compile("^(Book|Join the waiting list)$")).click()
    await expect(page.get_by_role("status")).to_contain_text(re.compile("booked in|waiting list"))
    await places.fill("1")
    await page.get_by_role("button", name=re.compile("^(Book|Join the waiting list)$")).click()
    await beside(page, "quantity", "at most 2 places")
    await expect(page.locator("main#content h1")).to_have_text("Repair Café")
    await named_in_header(page, name)
    await shot(page, "booking-error")

    # Past bookings are one click from the dashboard.
    await page.goto(site.url("account"))
    await page.locator("#tickets").get_by_role("link", name="bookings", exact=True).click()
    await at_url(page, site.url("account", "/bookings?when=past"))
    await expect(page.locator("main h1")).to_have_text("Your bookings")
    await expect(page.get_by_role("link", name="Past")).to_have_attribute("aria-current", "page")
    await expect(page.locator("main")).to_contain_text("No bookings for events that have ended.")
    await page.get_by_role("link", name="Upcoming").click()
    await at_url(page, site.url("account", "/bookings"))
    await expect(page.locator("main")).to_contain_text("Repair Café")
    await shot(page, "bookings-upcoming")

    # A newsletter: an address the server cannot use, said beside it, what was typed kept.
    await page.goto(site.url("account", "/newsletters/subscribe"))
    await page.locator("main").get_by_label("Your email address").fill("reader@localhost")
    await page.locator("main").get_by_role("button", name="Subscribe").click()
    await beside(page, "sub-email", "valid email address")
    await expect(page.locator("main").get_by_label("Your email address")).to_have_value(
        "reader@localhost"
    )
    await shot(page, "newsletter-error")

    # The social hub's profile: two problems at once.
    await page.goto(site.url("federation", "/social/profile"))
    await page.get_by_label("Display name").fill("W" * 101)
    await page.get_by_label("Or the address of a profile picture (URL)").fill(
        "ftp://pictures.example/me.png"
    )
    await page.get_by_role("button", name="Save").click()
    await beside(page, "display_name", "at most 100 characters")
    await beside(page, "avatar_url", "http(s)")
    await expect(page.get_by_label("Display name")).to_have_value("W" * 101)
    await shot(page, "profile-errors")


async def test_an_editors_admin_home_and_event_form(site: Site, browsers: NewPage) -> None:
    editor = f"editor_{secrets.token_hex(3)}"
    await site.cli(
        "user", "create", "--email", f"{editor}@members.rose-ash.test", "--username", editor,
        "--editor", "--password", PASSWORD,
    )  # fmt: skip
    page = await browsers()
    await page.goto(site.url("events"))
    await sign_in_here(site, page, editor)
    await at_url(page, site.url("events"))

    # The Staff menu leads an editor to their admin home: what editors may do, no more.
    await open_header_menu(page)
    staff = account_menu(page).locator("details.staff-menu")
    await staff.locator("summary").click()
    await staff.get_by_role("link", name="Admin home").click()
    await at_url(page, site.url("federation", "/admin/"))
    await expect(page.locator("main#content h1")).to_have_text("Staff")
    main = page.locator("main")
    for title in ("Posts and pages", "Market", "Events", "Check-in", "Newsletters"):
        await expect(main.get_by_role("link", name=title, exact=True)).to_be_visible()
    for title in ("Orders", "Accounts and roles", "Fediverse deliveries"):
        await expect(main.get_by_role("link", name=title, exact=True)).to_have_count(0)
    await shot(page, "editor-admin-home")

    # The event form: four problems at once, each beside its field.
    await main.get_by_role("link", name="Events", exact=True).click()
    await at_url(page, site.url("events", "/editor/"))
    await page.get_by_role("link", name="New event").click()
    await page.get_by_label("Title").fill("Quiz night")
    await page.get_by_label("Slug").fill("Quiz Night!")
    await page.get_by_label("Starts (local time)").fill("2031-03-05T19:00")
    await page.get_by_label("Ends (local time)").fill("2031-03-05T18:00")
    await page.get_by_label("Capacity (empty: unlimited)").fill("-5")
    await page.get_by_label("Places per person").fill("99")
    await page.get_by_role("button", name="Save").click()
    await beside(page, "slug", "lower-case letters")
    await beside(page, "end", "after the start")
    await beside(page, "capacity", "0 to 100000")
    await beside(page, "per_person_limit", "1 to 50")
    await expect(page.locator(".form-error li")).to_have_count(4)
    await expect(page.get_by_label("Title")).to_have_value("Quiz night")
    await shot(page, "event-form-errors")

    # A post: two problems at once, beside the slug and the image's description.
    await page.goto(site.url("federation", "/admin/"))
    await page.locator("main").get_by_role("link", name="Posts and pages", exact=True).click()
    await at_url(page, re.compile(re.escape(site.url("blog", "/editor/posts"))))
    await page.get_by_role("link", name="New post").click()
    await page.get_by_label("Title").fill("Apple day")
    await page.get_by_label("Slug").fill("Apple Day!")
    await page.get_by_label("Its description (alt text)").fill("a" * 300)
    await page.get_by_role("button", name="Create draft").click()
    await beside(page, "slug", "lower-case letters")
    await beside(page, "feature_image_alt", "At most 191 characters")
    await expect(page.get_by_label("Title")).to_have_value("Apple day")
    await shot(page, "post-form-errors")
