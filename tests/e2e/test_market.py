"""The market in a browser: staff add a product and compose a market page with it; a
visitor filters and sorts a category, with JavaScript (boosted) and without."""

from __future__ import annotations

import re
import secrets

from playwright.async_api import Page, expect

from tests.e2e.conftest import Site

PASSWORD = "the market stall " + secrets.token_hex(4)


async def sign_in_as_editor(site: Site, page: Page, path: str) -> None:
    await site.cli("user", "set-password", "editor", "--password", PASSWORD)
    await page.goto(site.url("market", path))
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill("editor")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(site.url("market", path))


async def test_staff_add_a_product_and_a_market_page(site: Site, page: Page) -> None:
    tag = secrets.token_hex(3)
    title = f"Quince cheese {tag}"
    await sign_in_as_editor(site, page, "/editor/products/new")
    await page.get_by_label("Title", exact=True).fill(title)
    await page.get_by_label("Price", exact=True).fill("5.25")
    await page.get_by_label("Unit", exact=True).fill("200 g")
    await page.get_by_label("Stock", exact=True).fill("abc")
    await page.get_by_label("Supplier", exact=True).select_option(label="Rose Ash Pantry")
    await page.get_by_label("Preserves & honey").check()
    await page.get_by_label("Summary", exact=True).fill("Membrillo, for the cheeseboard.")
    await page.get_by_label("Images", exact=True).fill("/static/img/market/jar.svg A jar")
    await page.get_by_role("button", name="Add product").click()
    # A refused field is named next to it; what was typed stays.
    await expect(page.locator(".field-error[data-field='stock']")).to_be_visible()
    await expect(page.get_by_label("Title", exact=True)).to_have_value(title)
    await page.get_by_label("Stock", exact=True).fill("8")
    await page.get_by_role("button", name="Add product").click()
    await expect(page.get_by_role("status")).to_have_text(f"{title} saved.")
    slug = f"quince-cheese-{tag}"
    await expect(page.get_by_label("Slug", exact=True)).to_have_value(slug)

    await page.goto(site.url("market", "/editor/pages/new"))
    await page.get_by_label("Title", exact=True).fill(f"Cheeseboard {tag}")
    await page.get_by_label("Introduction (HTML)").fill("<p>Everything for the board.</p>")
    await page.get_by_label("Items", exact=True).fill(
        f"product:{slug}\nproduct:farmhouse-cheddar\ncategory:dairy-eggs"
    )
    await page.get_by_label("Published").check()
    await page.get_by_role("button", name="Create page").click()
    await page.get_by_role("link", name="View it").click()
    await expect(page.locator("main#content h1")).to_have_text(f"Cheeseboard {tag}")
    cards = page.locator("article.product-card .product-card__title")
    await expect(cards).to_have_text([title, "Farmhouse cheddar"])
    await expect(page.locator(".category-card")).to_contain_text("Dairy & eggs")
    await page.get_by_role("link", name=title).click()
    await expect(page.locator("main#content h1")).to_have_text(title)
    await expect(page.locator(".product__price")).to_have_text("£5.25 / 200 g")


async def test_a_visitor_filters_and_sorts_a_category(site: Site, any_page: Page) -> None:
    page = any_page
    await page.goto(site.url("market"))
    await page.get_by_role("link", name="Fruit & veg").first.click()
    await expect(page.locator("main#content h1")).to_have_text("Fruit & veg")
    await page.get_by_label("Supplier").select_option(label="Hill Farm")
    await page.get_by_label("In stock only").check()
    await page.get_by_label("Sort by").select_option(label="Price, lowest first")
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(re.compile(r"supplier=hill-farm.*in_stock=1.*sort=price-asc"))
    titles = page.locator("article.product-card .product-card__title")
    await expect(titles.first).to_have_text("Potatoes")
    await expect(titles).not_to_contain_text(["Pears"])
    await expect(page.locator("[data-total]")).to_have_text("7 products")
    await expect(page.get_by_label("In stock only")).to_be_checked()
    # Search, from the market's home.
    await page.goto(site.url("market"))
    await page.get_by_label("Search the market").fill("hives")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("ol.search-results h2").first).to_have_text("Wildflower honey")
    await expect(page.locator("ol.search-results mark").first).to_have_text(
        re.compile("hives", re.I)
    )
