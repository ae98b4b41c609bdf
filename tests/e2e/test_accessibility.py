"""Journey 8: an accessibility smoke check on each app's main pages.

Structural rules checked directly (alt text, labels, one h1, landmarks) and axe-core (bundled
in the axe-playwright-python wheel) for serious and critical violations.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

from shared.config import APP_NAMES
from tests.e2e.conftest import Site

MAIN_PAGES = [
    *((app, "/") for app in APP_NAMES),
    ("federation", "/signin"),
    ("federation", "/signup"),
    ("blog", "/posts/welcome-to-rose-ash"),
    # One of each of Ghost's cards (shared/services/blog/demo.yaml).
    ("blog", "/posts/the-harvest-supper-a-look-back"),
    ("blog", "/pages/about"),
    ("blog", "/tag/events"),
    ("blog", "/search?q=sourdough"),
    ("market", "/categories/bakery"),
    ("market", "/products/sourdough-loaf"),
    ("events", "/month"),
    ("events", "/events/winter-concert"),
    ("federation", "/social/local"),
]


@pytest.mark.parametrize(("app", "path"), MAIN_PAGES)
async def test_main_pages_pass_the_accessibility_smoke_check(
    site: Site, page: Page, app: str, path: str
) -> None:
    response = await page.goto(site.url(app, path))
    # The page itself, not an error page that happens to pass the checks below.
    assert response is not None
    assert response.status == 200, (response.url, response.status)
    assert await page.locator("h1").count() == 1, "exactly one h1"
    for landmark in ("banner", "main", "contentinfo", "navigation"):
        assert await page.get_by_role(landmark).count() >= 1, f"landmark {landmark} missing"
    images_without_alt = await page.locator("img:not([alt])").count()
    assert images_without_alt == 0
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
              .filter(el => el.type !== 'hidden' && el.type !== 'submit')
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !el.getAttribute('aria-labelledby'))
              .map(el => el.name || el.id || el.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []
    results = await Axe().run(page)
    serious = [
        v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")
    ]
    assert serious == [], results.generate_report()
