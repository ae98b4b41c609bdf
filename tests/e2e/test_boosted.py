"""Journey 2, the boosted site: inside an app, links swap ``#content`` (htmx) without loading
the page again, the URL and title follow, back and forward work, a reload shows the same
page; a link to another app is a full navigation."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.e2e.conftest import Site

POST = "/posts/welcome-to-rose-ash"


async def same_document(page: Page) -> bool:
    """Whether the page was not loaded again since the marker was set."""
    return bool(await page.evaluate("window.__marker === 1"))


async def at(page: Page, url: str, h1: str, title: str) -> None:
    await page.wait_for_url(url)
    await expect(page.locator("main#content h1")).to_have_text(h1)
    await expect(page).to_have_title(title)
    await expect(page.locator("main#content")).to_have_count(1)
    await expect(page.get_by_role("navigation", name="Site")).to_be_visible()


async def test_journey_2_links_swap_content_and_history_works(site: Site, page: Page) -> None:
    home = site.url("blog")
    await page.goto(home)
    await at(page, home, "Blog", "Blog · Rose Ash")
    await page.evaluate("window.__marker = 1")

    await page.get_by_role("link", name="Welcome to Rose Ash").first.click()
    await at(page, site.url("blog", POST), "Welcome to Rose Ash", "Welcome to Rose Ash · Rose Ash")
    assert await same_document(page)

    await (
        page.locator(".post-footer")
        .get_by_role("list", name="Tags")
        .get_by_role("link", name="News")
        .click()
    )
    await at(page, site.url("blog", "/tag/news"), "News", "News · Rose Ash")
    assert await same_document(page)

    await page.go_back()
    await at(page, site.url("blog", POST), "Welcome to Rose Ash", "Welcome to Rose Ash · Rose Ash")
    assert await same_document(page)
    await page.go_back()
    await at(page, home, "Blog", "Blog · Rose Ash")
    assert await same_document(page)
    await page.go_forward()
    await at(page, site.url("blog", POST), "Welcome to Rose Ash", "Welcome to Rose Ash · Rose Ash")
    assert await same_document(page)

    await page.reload()
    await at(page, site.url("blog", POST), "Welcome to Rose Ash", "Welcome to Rose Ash · Rose Ash")
    assert not await same_document(page)  # a real load, showing the same page

    # Another app (another origin) is a whole-page navigation, not a boosted one.
    await page.evaluate("window.__marker = 1")
    await page.get_by_role("navigation", name="Site").get_by_role("link", name="Market").click()
    await page.wait_for_url(site.url("market"))
    await expect(page.locator("header.site-header")).to_be_visible()
    assert not await same_document(page)
