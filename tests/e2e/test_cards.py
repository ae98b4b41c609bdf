"""Ghost's cards in the demo's card post: a toggle opens without a script of Ghost's, a
gallery's images share their rows by shape, and an embedded video loads nothing from its
provider until the reader starts it, then plays in a sandboxed no-cookie frame."""

from __future__ import annotations

import re

from playwright.async_api import Page, Route, expect

from tests.e2e.conftest import Site

CARDS_POST = "/posts/the-harvest-supper-a-look-back"
LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost)[:/]")


async def test_cards_and_a_player_started_by_the_reader(site: Site, page: Page) -> None:
    outside: list[str] = []

    async def refuse(route: Route) -> None:
        outside.append(route.request.url)
        await route.abort()

    await page.route(lambda url: not LOOPBACK.match(url), refuse)
    await page.goto(site.url("blog", CARDS_POST))
    await expect(page.locator("h1")).to_have_text("The harvest supper: a look back")
    await expect(page.locator(".reading-time")).to_have_text(re.compile(r"^\d+ min read$"))

    toggle = page.locator("details.kg-toggle-card")
    await expect(toggle.locator(".kg-toggle-content")).to_be_hidden()
    await toggle.get_by_text("Can I bring my own dish next year?").click()
    await expect(toggle.locator(".kg-toggle-content")).to_be_visible()

    # The script gave each gallery image its share of the row (4:3 images: equal shares).
    shares = await page.locator(".kg-gallery-image").evaluate_all(
        "els => els.map(e => Number(e.style.flexGrow).toFixed(3))"
    )
    assert shares == ["1.333"] * 5

    players = page.locator(".kg-embed-player")
    await expect(players).to_have_count(2)
    await expect(page.locator("iframe")).to_have_count(0)
    assert outside == []  # nothing fetched from any provider yet

    async with page.expect_request(re.compile(r"^https://www\.youtube-nocookie\.com/embed/")):
        await players.first.get_by_role("link").click()
    frame = players.first.locator("iframe")
    await expect(frame).to_have_attribute(
        "src", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?autoplay=1"
    )
    await expect(frame).to_have_attribute("sandbox", re.compile(r"\ballow-scripts\b"))
    assert [u for u in outside if "vimeo" in u] == []  # the other player is still a link
