"""The cookies a real browser holds after its first pages, for the "browser cookies" scenarios:
Debian's Chromium (the one the browser tests use) driven by Playwright visits the platform as a
new visitor would — the blog home, a post from it, then a market category — and every request
of a scenario then carries exactly the cookies Chromium would send to that app, with the
headers of a top-level navigation. Nothing is invented: whatever the platform left in the
browser (sign-on markers, sessions, the generation cookie) is what the load carries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import sync_playwright

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

    def headers(self, base_url: str) -> dict[str, str]:
        cookie = self.cookies.get(base_url, "")
        return {**NAVIGATION, **({"Cookie": cookie} if cookie else {})}


def browse(blog_url: str, market_url: str, category_path: str) -> BrowserSession:
    """Visit the blog home, its first post and a market category in a fresh Chromium profile;
    return the cookies it then holds for each app."""
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

            visit(f"{blog_url}/")
            href = page.locator(".post-card__title a").first.get_attribute("href")
            assert href, "no post linked from the blog home"
            post_path = urlsplit(urljoin(f"{blog_url}/", href)).path
            visit(f"{blog_url}{post_path}")
            visit(f"{market_url}{category_path}")
            cookies, names = {}, {}
            for base in (blog_url, market_url):
                jar = context.cookies([f"{base}/"])
                cookies[base] = "; ".join(f"{c['name']}={c['value']}" for c in jar)
                names[base] = sorted(c["name"] for c in jar)
            return BrowserSession(cookies, post_path, redirects, names)
        finally:
            browser.close()
