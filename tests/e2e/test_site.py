"""A visitor moves between the apps through the composed header, with and without JavaScript."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.e2e.conftest import Site

# The default navigation (migration 0002) and where each item leads.
NAVIGATION = [
    ("Market", "market"),
    ("Events", "events"),
    ("Community", "federation"),
    ("Home", "blog"),
]
# Federation's front page is the social hub: a visitor sees the local timeline.
H1 = {"blog": "Blog", "market": "Market", "events": "Events", "federation": "Local"}


async def _header_is_composed(page: Page) -> None:
    """Every app's header carries blog's navigation, cart's count and account's menu."""
    await expect(page.get_by_role("navigation", name="Site")).to_be_visible()
    await expect(page.locator("header .cart-mini .cart-count")).to_have_text("0")
    await expect(page.get_by_role("navigation", name="Your account")).to_be_visible()


async def test_the_composed_header_links_the_apps_into_one_site(site: Site, any_page: Page) -> None:
    page = any_page
    await page.goto(site.url("blog"))
    await expect(page.locator("h1")).to_have_text("Blog")
    await _header_is_composed(page)
    for label, app in NAVIGATION:
        await page.get_by_role("navigation", name="Site").get_by_role("link", name=label).click()
        await page.wait_for_url(site.url(app))
        await expect(page.locator("h1")).to_have_text(H1[app])
        await expect(page).to_have_title(f"{H1[app]} · Rose Ash")
        await _header_is_composed(page)
        current = page.locator('.site-nav a[aria-current="page"]')
        await expect(current).to_have_text(label)
    await page.locator("header .cart-mini").click()
    await page.wait_for_url(site.url("cart"))
    await expect(page.locator("h1")).to_have_text("Cart")
    await _header_is_composed(page)


async def test_an_unknown_page_is_a_styled_404(site: Site, page: Page) -> None:
    response = await page.goto(site.url("market", "/no/such/thing"))
    assert response is not None
    assert response.status == 404
    await expect(page.locator("h1")).to_have_text("Page not found")
    await expect(page.locator("header.site-header")).to_be_visible()
