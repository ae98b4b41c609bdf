"""The newsletter journey: a visitor without an account subscribes, confirms from the email,
an editor sends the weekly issue from the desk, the worker of `rose-ash up` delivers it once
to every confirmed subscriber, and the visitor unsubscribes from the link in the email."""

from __future__ import annotations

import re
import secrets

from playwright.async_api import Page, expect

from tests.e2e.conftest import Site
from tests.support import eventually, link_in

PASSWORD = "the newsletter desk " + secrets.token_hex(4)


async def test_subscribe_confirm_send_once_and_unsubscribe_in_one_click(
    site: Site, page: Page
) -> None:
    reader = f"reader_{secrets.token_hex(3)}@example.test"
    await page.goto(site.url("account", "/newsletters/subscribe"))
    await page.get_by_label("Your email address").fill(reader)
    await page.get_by_label("Newsletter").select_option(label="Weekly market")
    await page.get_by_role("button", name="Subscribe").click()
    await expect(page.locator("h1")).to_have_text("Check your email")

    confirmation = await site.mail.wait_for(reader)
    assert confirmation["Subject"] == "Confirm your subscription to Weekly market"
    await page.goto(link_in(confirmation))
    await page.get_by_role("button", name="Yes, subscribe me").click()
    await expect(page.locator(".confirmed")).to_contain_text("Weekly market")

    # The editor sends the demo's draft issue from the desk.
    await site.cli("user", "set-password", "editor", "--password", PASSWORD)
    await page.goto(site.url("account", "/editor/newsletters/"))
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill("editor")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(site.url("account", "/editor/newsletters/"))
    await page.get_by_role("link", name="Weekly market").click()
    await page.locator("table.issues a").first.click()
    subject = await page.get_by_label("Subject").input_value()
    await page.get_by_role("button", name=re.compile(r"^Send to \d+ subscribers?$")).click()
    await expect(page.locator(".issue-status")).to_contain_text("sending")

    # The worker delivers it; the progress page says so once everyone has it.
    issue = await site.mail.wait_for(reader, count=2)
    assert issue["Subject"] == subject

    async def sent() -> bool:
        await page.reload()
        return await page.locator(".issue-status").get_attribute("data-status") == "sent"

    await eventually(sent, "the progress page says the issue is sent", every_s=0.5)
    await expect(page.locator("[data-count='pending']")).to_have_text("0")
    sent = int(await page.locator("[data-count='sent']").inner_text())
    assert sent >= 4  # the demo's three subscribers and the reader
    issues_to_reader = [m for m in site.mail.to(reader) if m["Subject"] == subject]
    assert len(issues_to_reader) == 1
    assert issue["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # The link in the email unsubscribes (the page asks first: scanners fetch links).
    unsubscribe = issue["List-Unsubscribe"].strip("<>")
    await page.goto(unsubscribe)
    await page.get_by_role("button", name="Unsubscribe").click()
    await expect(page.locator(".unsubscribed")).to_contain_text(reader)
