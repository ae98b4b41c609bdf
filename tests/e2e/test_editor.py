"""Journey 5, the editor: an editor writes a post in the rich-text editor (a heading, bold
text, a link), publishes it, and a visitor reads it from the home page; a link the editor
adds to the site navigation at the blog shows in market's header."""

from __future__ import annotations

import re
import secrets

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import Site

PASSWORD = "the editor's desk " + secrets.token_hex(4)


async def sign_in_as_editor(site: Site, page: Page, path: str) -> None:
    await site.cli("user", "set-password", "editor", "--password", PASSWORD)
    await page.goto(site.url("blog", path))
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill("editor")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(site.url("blog", path))


async def test_journey_5_an_editor_publishes_a_rich_post_and_edits_the_navigation(
    site: Site, page: Page, browser: Browser
) -> None:
    title = "Harvest supper " + secrets.token_hex(3)
    await sign_in_as_editor(site, page, "/editor/posts/new")
    await page.get_by_label("Title").fill(title)

    # The textarea is enhanced: a toolbar and an editable surface, the textarea hidden.
    toolbar = page.get_by_role("toolbar", name="Formatting")
    body = page.get_by_role("textbox", name="Body (HTML)")
    await expect(page.locator("textarea#f-html")).to_be_hidden()
    bold = toolbar.get_by_role("button", name="Bold")
    await body.click()
    await toolbar.get_by_role("button", name="Heading", exact=True).click()
    await expect(body).to_be_focused()
    await page.keyboard.type("On the menu")
    await page.keyboard.press("Enter")
    await bold.click()
    await expect(bold).to_have_attribute("aria-pressed", "true")
    await expect(body).to_be_focused()
    await page.keyboard.type("Pumpkin soup")
    await bold.click()
    await expect(bold).to_have_attribute("aria-pressed", "false")
    await page.keyboard.type(" and bread from the market")
    for _ in range(len("the market")):
        await page.keyboard.press("Shift+ArrowLeft")
    page.once("dialog", lambda dialog: dialog.accept("https://market.example/bread"))
    await toolbar.get_by_role("button", name="Link").click()
    await expect(body.locator("a[href='https://market.example/bread']")).to_have_text("the market")
    await page.get_by_role("button", name="Create draft").click()
    await page.wait_for_url(re.compile(re.escape(site.url("blog", "/editor/posts/")) + r"\d+$"))
    await expect(page.locator("[data-status]")).to_have_text("draft")
    await page.get_by_role("button", name="Publish now").click()
    await expect(page.locator("[data-status]")).to_have_text("published")

    # The site navigation, edited at the blog.
    label = "Zines " + secrets.token_hex(2)
    await page.goto(site.url("blog", "/editor/navigation"))
    add = page.locator("form.nav-add")
    await add.get_by_label("Label").fill(label)
    await add.get_by_label("App").select_option("blog")
    await add.get_by_label("Path or address").fill("/tag/news")
    await add.get_by_role("button", name="Add").click()
    await expect(page.locator(f"input[value='{label}']")).to_have_count(1)

    # A visitor (another browser, not signed in).
    context = await browser.new_context()
    visitor = await context.new_page()
    try:
        await visitor.goto(site.url("blog"))
        await visitor.get_by_role("link", name=title).first.click()
        await expect(visitor.locator("main#content h1")).to_have_text(title)
        post = visitor.locator(".post-body")
        await expect(post.locator("h2")).to_have_text("On the menu")
        await expect(post.locator("strong")).to_have_text("Pumpkin soup")
        await expect(post.locator("a[href='https://market.example/bread']")).to_have_text(
            "the market"
        )
        await visitor.goto(site.url("market"))
        nav = visitor.get_by_role("navigation", name="Site")
        await expect(nav.get_by_role("link", name=label)).to_have_attribute(
            "href", site.url("blog", "/tag/news")
        )
    finally:
        await context.close()

    # Leave the shared site's navigation as it was.
    await page.goto(site.url("blog", "/editor/navigation"))
    await page.get_by_role("link", name=f"Delete {label}").click()
    await page.get_by_role("button", name="Delete").click()
    await expect(page.locator(f"input[value='{label}']")).to_have_count(0)
