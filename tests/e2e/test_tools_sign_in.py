"""A cooperative's own tool signs members in with Rose Ash (issue 29): an admin registers it at
federation's admin page, a member signs in to it (consent once), sees it under "Connected
tools", and is logged out of it by signing out of the blog (the worker sends the tool a
back-channel logout token).

The tool is the stand-in relying party (tests/standins/oidc_tool.py, Authlib's client),
served by Hypercorn on a loopback port in this test process; the platform is the suite's
`rose-ash up --demo`, whose worker delivers the logout token."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import cast

from playwright.async_api import Browser, Page, expect

from shared.infrastructure.factory import RoseQuart
from shared.tooling.devservers import free_ports
from tests.e2e.conftest import Site
from tests.standins.oidc_tool import StandInTool
from tests.support import eventually
from tests.support.live import serve_app

PASSWORD = "one account for every tool " + secrets.token_hex(3)


async def shoot(page: Page, name: str) -> None:
    """Screenshots at a phone's and a desktop's width (when ROSE_E2E_SCREENSHOTS names a
    folder)."""
    folder = os.environ.get("ROSE_E2E_SCREENSHOTS")
    if not folder:
        return
    for width in (390, 1280):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)


async def sign_in_at_federation(page: Page, site: Site, username: str) -> None:
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def test_an_admin_registers_a_tool_a_member_signs_in_and_is_signed_out_by_the_blog(
    site: Site, page: Page, browser: Browser
) -> None:
    [port] = free_ports(1)
    client_id = f"forum-{secrets.token_hex(3)}"
    tool = StandInTool(issuer=site.urls["federation"], client_id=client_id, client_secret=None)
    tool.url = f"http://127.0.0.1:{port}"
    live_tool = await serve_app(cast(RoseQuart, tool.app()), port)
    try:
        # The admin registers the tool.
        admin = f"warden_{secrets.token_hex(3)}"
        await site.cli(
            "user", "create", "--email", f"{admin}@members.rose-ash.test", "--username", admin,
            "--admin", "--password", PASSWORD,
        )  # fmt: skip
        await page.goto(site.url("federation", "/admin/tools"))
        await sign_in_at_federation(page, site, admin)
        await page.wait_for_url(site.url("federation", "/admin/tools"))
        await page.get_by_label("Name (members see it").fill("Co-op Forum")
        await page.get_by_label("Client ID").fill(client_id)
        await page.get_by_label("Redirect URIs").fill(tool.redirect_uri)
        await page.get_by_label("Where to return after signing out").fill(f"{tool.url}/")
        await page.get_by_label("Back-channel logout URI").fill(tool.backchannel_logout_uri)
        await page.get_by_role("checkbox", name=re.compile("roles")).check()
        await page.get_by_role("button", name="Register").click()
        secret = page.locator("code.client-secret")
        await expect(secret).to_be_visible()
        tool.client_secret = (await secret.inner_text()).strip()
        await shoot(page, "admin-tools")

        # A member signs in at the blog, then to the tool: the consent page, once.
        member = f"fern_{secrets.token_hex(3)}"
        await site.cli(
            "user", "create", "--email", f"{member}@members.rose-ash.test", "--username", member,
            "--display-name", "Fern Gully", "--editor", "--password", PASSWORD,
        )  # fmt: skip
        context = await browser.new_context()
        member_page = await context.new_page()
        try:
            await member_page.goto(site.url("blog", "/auth/login?next=/"))
            await sign_in_at_federation(member_page, site, member)
            await member_page.wait_for_url(re.compile(re.escape(site.url("blog"))))

            await member_page.goto(f"{tool.url}/login")
            consent = member_page.locator("section.consent")
            await expect(consent.locator("h1")).to_contain_text("Sign in to Co-op Forum")
            await expect(consent).to_contain_text("your roles in the cooperative")
            await shoot(member_page, "consent")
            await member_page.get_by_role("button", name="Continue to Co-op Forum").click()
            await member_page.wait_for_url(f"{tool.url}/")
            await expect(member_page.locator("body")).to_contain_text("as Fern Gully")
            await expect(member_page.locator("body")).to_contain_text("editor")

            # A second sign-in goes straight through.
            await member_page.goto(f"{tool.url}/login")
            await member_page.wait_for_url(f"{tool.url}/")
            assert len(tool.sessions) == 2

            # "Connected tools" at federation's settings.
            await member_page.goto(site.url("federation", "/settings/tools"))
            await expect(member_page.locator("ul.connected-tools")).to_contain_text("Co-op Forum")
            await shoot(member_page, "connected-tools")

            # Signing out of the blog logs the member out of the tool too.
            await member_page.goto(site.url("blog", "/auth/logout"))
            await member_page.locator("main").get_by_role("button", name="Sign out").click()
            await member_page.wait_for_url(re.compile(re.escape(site.url("blog"))))
            await eventually(lambda: not tool.sessions, "the tool's back-channel logout")
            assert tool.refused_logout_tokens == []
            assert {claims["aud"] for claims in tool.logout_tokens} == {client_id}
            await member_page.goto(f"{tool.url}/")
            await expect(member_page.locator("body")).to_contain_text("Not signed in")
        finally:
            await context.close()
    finally:
        await live_tool.stop()
