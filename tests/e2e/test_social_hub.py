"""The social hub in a browser: Like and Follow change in place (htmx posts the form and swaps
the piece that changed: the page is not reloaded and keeps its scroll position), and without
JavaScript the same forms post and come back to the page."""

from __future__ import annotations

import re
import secrets

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import Site

PASSWORD = "likes in place " + secrets.token_hex(4)


async def sign_in(site: Site, page: Page, username: str) -> None:
    await site.cli("user", "set-password", username, "--password", PASSWORD)
    await page.goto(site.url("federation", "/social"))
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(site.url("federation", "/social"))


async def test_like_and_follow_in_place_and_without_javascript(
    site: Site, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await sign_in(site, page, "alice")
    # A post of Rosa's in alice's home timeline (the demo has alice follow her).
    status = page.locator("article.social-status", has_text="squash seeds").first
    like = status.locator(".social-toggle--like")
    await expect(like).to_have_attribute("aria-pressed", "false")
    await like.scroll_into_view_if_needed()
    # A mark on the window: a reload (or a boosted navigation's swap) would lose the page state.
    await page.evaluate("window.__kept = true")
    scrolled = await page.evaluate("window.scrollY")
    assert scrolled > 0
    await like.click()
    await expect(like).to_have_attribute("aria-pressed", "true")
    await expect(like).to_contain_text("Unlike (1)")
    assert await page.evaluate("window.__kept") is True
    assert await page.evaluate("window.scrollY") == scrolled

    # Follow on Rosa's profile (alice follows her in the demo): the Follow box alone changes.
    await status.locator("a.social-account").click()
    await page.wait_for_url(re.compile(r"/social/accounts/\d+$"))
    await page.evaluate("window.__kept = true")
    box = page.locator(".social-follow")
    await expect(box.locator("[data-follow-state]")).to_have_text("You follow this account.")
    await box.get_by_role("button", name="Unfollow").click()
    await expect(box.get_by_role("button", name="Follow", exact=True)).to_be_visible()
    await expect(box.locator("[data-follow-state]")).to_have_count(0)
    await box.get_by_role("button", name="Follow", exact=True).click()
    await expect(box.locator("[data-follow-state]")).to_have_text("You follow this account.")
    assert await page.evaluate("window.__kept") is True
    await context.close()

    # Without JavaScript: the form posts, and the browser comes back to the timeline.
    plain = await browser.new_context(java_script_enabled=False)
    page = await plain.new_page()
    await sign_in(site, page, "alice")
    status = page.locator("article.social-status", has_text="squash seeds").first
    await status.get_by_role("button", name=re.compile("^Unlike")).click()
    await page.wait_for_url(site.url("federation", "/social"))
    status = page.locator("article.social-status", has_text="squash seeds").first
    await expect(status.locator(".social-toggle--like")).to_have_attribute("aria-pressed", "false")
    await plain.close()
