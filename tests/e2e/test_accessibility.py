"""Journey 8: an accessibility smoke check on each app's main pages.

Structural rules checked directly (alt text, labels, one h1, landmarks) and axe-core (bundled
in the axe-playwright-python wheel) for serious and critical violations; the key pages (every
app's home, a post, a product, a category, the month calendar) at desktop and phone width, in
light and dark colours, within a page-weight budget; the month widget where it is placed (a
blog page, its embed frame) from a narrow embed's width to a desktop's. Lighthouse's own figures
are in bench/.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

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
    ("blog", "/pages/visit"),  # the month widget (events/calendar-month) in a page
    ("blog", "/tag/events"),
    ("blog", "/search?q=sourdough"),
    ("market", "/categories/bakery"),
    ("market", "/products/sourdough-loaf"),
    ("events", "/month"),
    ("events", "/events/winter-concert"),
    ("federation", "/social/local"),
]


# The pages the "Keep" names (Lighthouse's set), each at 1280 and 390 px.
KEY_PAGES = [
    *((app, "/") for app in APP_NAMES),
    ("blog", "/posts/welcome-to-rose-ash"),
    ("market", "/products/sourdough-loaf"),
    ("market", "/categories/bakery"),
    ("events", "/month"),
]
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
# Everything a key page loads (HTML, CSS, scripts, images, as decoded bytes): a phone on a
# slow connection should get a page in a few seconds. The pages weigh about a fifth of it.
PAGE_WEIGHT_BUDGET = 1_000_000


@pytest.mark.parametrize(("app", "path"), MAIN_PAGES)
async def test_main_pages_pass_the_accessibility_smoke_check(
    site: Site, page: Page, app: str, path: str
) -> None:
    await check_page(site, page, app, path)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize(("app", "path"), KEY_PAGES)
async def test_key_pages_pass_at_both_widths_within_the_weight_budget(
    site: Site, page: Page, app: str, path: str, width: str, scheme: str
) -> None:
    w, h = WIDTHS[width]
    await page.set_viewport_size({"width": w, "height": h})
    await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]  # a Literal
    await check_page(site, page, app, path)
    # No sideways scrolling on a phone; the header is one row there.
    assert await page.evaluate("document.documentElement.scrollWidth") <= w
    header = await page.locator("header.site-header").bounding_box()
    assert header is not None
    if width == "phone":
        assert header["height"] <= 72, header
    await page.wait_for_load_state("load")
    weight = await page.evaluate(
        """() => performance.getEntriesByType('navigation').concat(
                   performance.getEntriesByType('resource'))
              .reduce((sum, e) => sum + (e.decodedBodySize || 0), 0)"""
    )
    assert 0 < weight <= PAGE_WEIGHT_BUDGET, weight


# The month widget in a blog page (with the visitor's colour scheme) and in its embed frame (with
# the embed's theme), each at a narrow embed's width, a phone's and a desktop's.
WIDGET_PLACES = [
    ("blog", "/pages/visit", "light"),
    ("blog", "/pages/visit", "dark"),
    ("events", "/embed/month", "light"),
    ("events", "/embed/month?theme=dark", "dark"),
]


@pytest.mark.parametrize("width", [320, 390, 1280])
@pytest.mark.parametrize(("app", "path", "scheme"), WIDGET_PLACES)
async def test_the_month_widget_is_accessible_where_it_is_placed_at_every_width(
    site: Site, page: Page, app: str, path: str, scheme: str, width: int
) -> None:
    await page.set_viewport_size({"width": width, "height": 800})
    await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]  # a Literal
    response = await page.goto(site.url(app, path))
    assert response is not None
    assert response.status == 200, (response.url, response.status)
    widget = page.locator(".widget-month")
    await expect(widget).to_be_visible()
    assert await page.locator(".widget-month__grid th[scope=col]").count() == 7
    # Nothing overflows the widget's box, and every event of the month is a link shown at this
    # width: a chip in the grid where there is room, in the agenda below it where there is not.
    assert await widget.evaluate("el => el.scrollWidth <= el.clientWidth")
    # Nor the page (the header's one row included) on the narrowest phone.
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    events, shown = await widget.evaluate(
        """el => {
            const chips = [...el.querySelectorAll('a.widget-month__chip')];
            const shown = chips.filter(a => a.getClientRects().length > 0);
            return [new Set(chips.map(a => a.href)).size, new Set(shown.map(a => a.href)).size];
        }"""
    )
    assert events > 0, "the demo has events this month"
    assert shown == events
    results = await Axe().run(page)
    serious = [
        v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")
    ]
    assert serious == [], results.generate_report()


async def check_page(site: Site, page: Page, app: str, path: str) -> None:
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
