"""A visitor reads the blog that `rose-ash up --demo` seeds: home, a post, a tag, search, feed;
a members-only post asks them to sign in and, once they have, shows them the whole of it."""

from __future__ import annotations

import re
import secrets

from playwright.async_api import Page, expect

from tests.e2e.conftest import Site
from tests.support import link_in

MEMBERS_POST = "/posts/minutes-of-the-members-meeting"


async def test_a_visitor_reads_searches_and_follows_tags(site: Site, page: Page) -> None:
    await page.goto(site.url("blog"))
    await expect(page.locator("h1")).to_have_text("Blog")
    await expect(page.get_by_role("heading", name="Featured")).to_be_visible()
    await expect(page.get_by_role("navigation", name="Site")).to_be_visible()
    await page.get_by_role("link", name="Welcome to Rose Ash").first.click()
    await expect(page.locator("h1")).to_have_text("Welcome to Rose Ash")
    await expect(page).to_have_title("Welcome to Rose Ash · Rose Ash")
    await expect(page.get_by_role("navigation", name="Site")).to_be_visible()
    # The post's own tags (the "Read more" cards below list theirs too).
    post_tags = page.locator(".post-footer").get_by_role("list", name="Tags")
    await post_tags.get_by_role("link", name="News").click()
    await expect(page.locator("h1")).to_have_text("News")
    await page.goto(site.url("blog"))
    await page.get_by_label("Search the blog").fill("sourdough")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("mark").first).to_have_text("sourdough", ignore_case=True)
    await expect(
        page.get_by_role("link", name="Sourdough workshop every first Saturday")
    ).to_be_visible()


async def test_members_only_posts_open_once_a_member_signs_in(site: Site, page: Page) -> None:
    await page.goto(site.url("blog", MEMBERS_POST))
    await expect(page.locator(".members-only")).to_contain_text("for members of the cooperative")
    await expect(page.locator(".post-body")).to_have_count(0)

    # A member signs up (confirming from the email), then signs in from the post itself.
    username = f"minnow_{secrets.token_hex(3)}"
    email = f"{username}@members.rose-ash.test"
    password = "the minutes of the meeting"
    await page.goto(site.url("federation", "/signup"))
    await page.get_by_label("Email address", exact=True).fill(email)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Your name").fill("Minnow Member")
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("h1")).to_have_text("Check your email")
    await page.goto(link_in(await site.mail.wait_for(email)))
    await expect(page.locator("h1")).to_have_text("Confirm your email address")
    await page.get_by_role("button", name="Confirm and sign in").click()
    await page.wait_for_url(site.url("federation", "/"))

    # The link signed the member in: the blog, seen before, knows them on the next visit.
    await page.goto(site.url("blog", MEMBERS_POST))
    await expect(page.locator(".post-body")).to_contain_text("second-hand bread oven")

    # Signed out, the post is closed again; signing in from the post itself opens it.
    account = page.get_by_role("navigation", name="Your account")
    await account.get_by_role("link", name="Sign out").click()
    await page.locator("main").get_by_role("button", name="Sign out").click()
    await page.goto(site.url("blog", MEMBERS_POST))
    await page.locator(".members-only").get_by_role("link", name="Sign in").click()
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(site.url("blog", MEMBERS_POST))
    await expect(page.locator(".post-body")).to_contain_text("second-hand bread oven")
    await expect(page.locator(".members-only")).to_have_count(0)


async def test_the_feed_is_served(site: Site, page: Page) -> None:
    response = await page.request.get(site.url("blog", "/feed.xml"))
    assert response.status == 200
    assert "Welcome to Rose Ash" in await response.text()


async def test_feature_images_and_the_newsletter_sign_up(site: Site, page: Page) -> None:
    """The demo's posts have their feature images (drawn for it, served by the blog), and the
    account app's newsletter sign-up sits on the home page and under every post."""
    await page.goto(site.url("blog"))
    cards = page.locator(".post-grid .post-card__image")
    assert await cards.count() >= 7
    for i in range(await cards.count()):
        await cards.nth(i).scroll_into_view_if_needed()
        await expect(cards.nth(i)).not_to_have_js_property("naturalWidth", 0)
    signup = page.get_by_role("region", name="Get the newsletter")
    await expect(signup.get_by_label("Your email address")).to_be_visible()
    await expect(signup.get_by_role("button", name="Subscribe")).to_be_visible()

    await page.goto(site.url("blog", "/posts/sourdough-workshop-every-first-saturday"))
    image = page.locator(".post-image-figure img")
    await expect(image).to_have_attribute("alt", "Three sourdough loaves on a wooden board")
    await expect(image).not_to_have_js_property("naturalWidth", 0)
    signup = page.get_by_role("region", name="Get the newsletter")
    await expect(signup.get_by_role("button", name="Subscribe")).to_be_visible()
