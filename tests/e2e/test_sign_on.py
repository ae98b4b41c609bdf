"""Journey 1: sign up from blog's "Sign in", confirm the address from the email (which signs in
and returns to the blog page), and be signed in at every app without a click; sign out at
account and be signed out everywhere.

The platform's email goes to the suite's SMTP server (aiosmtpd on loopback, see conftest.py);
the link is read from the message that arrived, as a person would read it.
"""

from __future__ import annotations

import re
import secrets

from playwright.async_api import Locator, Page, Request, expect

from shared.config import APP_NAMES
from tests.e2e.conftest import Site
from tests.support import link_in

PASSWORD = "a journey through the co-op"


def account_menu(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Your account")


async def test_sign_up_verify_sign_in_once_then_signed_in_and_out_everywhere(
    site: Site, page: Page
) -> None:
    username = f"juniper_{secrets.token_hex(3)}"
    email = f"{username}@members.rose-ash.test"
    name = "Juniper Berry"
    authorize = f"{site.url('federation')}/oauth/authorize"
    to_federation: list[str] = []

    def seen(request: Request) -> None:
        if request.is_navigation_request() and request.url.startswith(authorize):
            to_federation.append(request.url)

    page.on("request", seen)

    # A first visit: never signed in, so not sent to federation at all (decision 0113).
    await page.goto(site.url("blog", "/?journey=1"))
    await expect(page).to_have_url(site.url("blog", "/?journey=1"))
    await expect(account_menu(page).get_by_role("link", name="Sign in")).to_be_visible()
    assert to_federation == []

    # "Sign in" leads to federation, where there is no account yet: create one.
    await account_menu(page).get_by_role("link", name="Sign in").click()
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_role("link", name="Create an account").click()
    # The link is boosted: wait for the form itself, or the sign-in page's "Email address or
    # username" field could still be the one filled.
    await expect(page.locator("h1")).to_have_text("Create an account")
    await page.get_by_label("Email address", exact=True).fill(email)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("h1")).to_have_text("Check your email")

    # The confirmation link, from the email that arrived: it signs in and goes back to the
    # blog page "Sign in" was clicked on, named in the header.
    link = link_in(await site.mail.wait_for(email))
    assert link.startswith(site.url("federation", "/verify?token="))
    await page.goto(link)
    await page.get_by_role("button", name="Confirm and sign in").click()
    await page.wait_for_url(site.url("blog", "/?journey=1"))
    await expect(account_menu(page).get_by_role("link", name=name)).to_be_visible()

    # Every other app knows the member without a click: at most one automatic trip each.
    for app in ("market", "cart", "events", "account", "federation"):
        to_federation.clear()
        await page.goto(site.url(app))
        await expect(page).to_have_url(site.url(app))
        await expect(account_menu(page).get_by_role("link", name=name)).to_be_visible()
        assert len(to_federation) <= 1, (app, to_federation)
        await page.goto(site.url(app))
        await expect(account_menu(page).get_by_role("link", name=name)).to_be_visible()
        assert len(to_federation) <= 1, f"{app}: signed in, yet sent to federation again"

    # The member's name leads to the account dashboard.
    await page.goto(site.url("events"))
    await account_menu(page).get_by_role("link", name=name).click()
    await page.wait_for_url(site.url("account"))
    await expect(page.locator(".signed-in-as")).to_contain_text(name)

    # Sign out at account: its confirmation page, then signed out everywhere.
    await account_menu(page).get_by_role("link", name="Sign out").click()
    await page.wait_for_url(site.url("account", "/auth/logout"))
    await page.locator("main").get_by_role("button", name="Sign out").click()
    await page.wait_for_url(site.url("account"))
    await expect(account_menu(page).get_by_role("link", name="Sign in")).to_be_visible()
    for app in APP_NAMES:
        await page.goto(site.url(app))
        await expect(account_menu(page).get_by_role("link", name="Sign in")).to_be_visible()
        await expect(account_menu(page)).not_to_contain_text(name)
