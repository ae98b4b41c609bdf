"""The cookies a real browser holds after its first pages, for the "browser cookies" scenarios:
Debian's Chromium (the one the browser tests use) driven by Playwright visits the platform as a
new visitor would — the blog home, a post from it, a market category, the events month page —
and, in a profile of its own, as a member signing in from the account app's dashboard; every
request of a scenario then carries exactly the cookies Chromium would send to that app, with
the headers of a top-level navigation. Nothing is invented: whatever the platform left in the
browser (sign-on markers, sessions, the generation cookie) is what the load carries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path(os.environ.get("ROSE_E2E_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# What Chromium sends with a top-level navigation (besides its cookies and User-Agent).
NAVIGATION = {
    "Accept": (
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
        "image/apng,*/*;q=0.8"
    ),
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Site": "none",
}


@dataclass(frozen=True)
class BrowserSession:
    """What the browser visited and holds: per app URL, its ``Cookie`` header."""

    cookies: dict[str, str]  # app base URL -> the Cookie header Chromium sends there
    post_path: str  # the post it opened from the blog home
    redirects: dict[str, int]  # page visited -> redirects its navigation took
    names: dict[str, list[str]]  # app base URL -> the names of the cookies it carries
    # The member's profile, signed in at the account app: the same for it.
    member_cookies: dict[str, str]
    member_names: dict[str, list[str]]

    def headers(self, base_url: str, *, member: bool = False) -> dict[str, str]:
        cookie = (self.member_cookies if member else self.cookies).get(base_url, "")
        return {**NAVIGATION, **({"Cookie": cookie} if cookie else {})}


@dataclass(frozen=True)
class Visit:
    """Where the browser goes: each app's base URL and the pages it opens."""

    blog_url: str
    market_url: str
    category_path: str
    events_url: str
    month_path: str
    account_url: str
    member: tuple[str, str]  # username, password of a member who signs in


def _jar(
    context: BrowserContext, bases: tuple[str, ...]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    cookies, names = {}, {}
    for base in bases:
        jar = context.cookies([f"{base}/"])
        cookies[base] = "; ".join(f"{c['name']}={c['value']}" for c in jar)
        names[base] = sorted(c["name"] for c in jar)
    return cookies, names


def browse(visit_plan: Visit) -> BrowserSession:
    """Visit the blog home, its first post, a market category and the events month page in
    a fresh Chromium profile, then sign a member in at the account app in another; return
    the cookies each profile then holds for each app."""
    v = visit_plan
    bases = (v.blog_url, v.market_url, v.events_url, v.account_url)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            redirects: dict[str, int] = {}

            def visit(url: str) -> None:
                response = page.goto(url)
                if response is None or not response.ok:
                    raise SystemExit(f"bench: the browser could not open {url}: {response}")
                hops, request = 0, response.request.redirected_from
                while request is not None:
                    hops, request = hops + 1, request.redirected_from
                redirects[url] = hops

            visit(f"{v.blog_url}/")
            href = page.locator(".post-card__title a").first.get_attribute("href")
            assert href, "no post linked from the blog home"
            post_path = urlsplit(urljoin(f"{v.blog_url}/", href)).path
            visit(f"{v.blog_url}{post_path}")
            visit(f"{v.market_url}{v.category_path}")
            visit(f"{v.events_url}{v.month_path}")
            cookies, names = _jar(context, bases)
            # A member, in a profile of their own: the dashboard's "Sign in", federation's
            # form, back to the dashboard.
            member = browser.new_context()
            page = member.new_page()
            page.goto(f"{v.account_url}/")
            page.locator("main").get_by_role("link", name="Sign in").click()
            page.get_by_label("Email address or username").fill(v.member[0])
            page.get_by_label("Password").fill(v.member[1])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{v.account_url}/")
            visit(f"{v.account_url}/")
            if page.get_by_role("link", name="Sign in").count():
                raise SystemExit("bench: the member's browser is not signed in at the account app")
            member_cookies, member_names = _jar(member, bases)
            return BrowserSession(
                cookies, post_path, redirects, names, member_cookies, member_names
            )
        finally:
            browser.close()
