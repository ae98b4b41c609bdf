"""The market's public pages through the app: home, listings with filters and sorting,
category tree, product, supplier, search, market pages, sharing tags, bounded queries."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from market.bp.units import sold_as
from shared.contracts import MarketPageInput
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from tests.market import factories
from tests.support import count_statements
from tests.support.settings import AppMaker


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("market")


@pytest.fixture
def client(app: RoseQuart) -> Client:
    return app.test_client()


async def html_of(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    body = await resp.get_data(as_text=True)
    assert resp.status_code == status, (path, body[:2000])
    return body


def slugs(html: str) -> list[str]:
    return re.findall(r'<article class="product-card[^"]*" data-product-slug="([^"]+)"', html)


def meta(html: str, prop: str) -> str | None:
    m = re.search(rf'<meta (?:property|name)="{re.escape(prop)}" content="([^"]*)"', html)
    return m.group(1) if m else None


@pytest.fixture
async def shop(db: AsyncSession) -> dict[str, object]:
    """Two suppliers, a tree (Food > Bakery > Cakes; Drinks), five products."""
    farm = await factories.supplier(db, "Hill Farm")
    mill = await factories.supplier(db, "Old Mill")
    food = await factories.category(db, "Food")
    bakery = await factories.category(db, "Bakery", parent=food)
    cakes = await factories.category(db, "Cakes", parent=bakery)
    drinks = await factories.category(db, "Drinks")
    await factories.product(
        db, "Sourdough loaf", 450, supplier=mill.slug, categories=(bakery.slug,), stock=3,
        summary="A slow rye sourdough.", description="<p>Baked with <b>rye</b> flour.</p>",
        featured=True,
    )  # fmt: skip
    await factories.product(
        db, "Carrot cake", 1200, supplier=mill.slug, categories=(cakes.slug,), stock=0
    )
    await factories.product(db, "Apple juice", 300, supplier=farm.slug, categories=(drinks.slug,))
    await factories.product(db, "Eggs", 280, supplier=farm.slug, categories=(food.slug,), unit="6")
    await factories.product(
        db, "Old stock", 100, supplier=farm.slug, categories=(food.slug,), available=False
    )
    await db.commit()
    return {"farm": farm, "mill": mill, "food": food, "bakery": bakery, "cakes": cakes}


async def test_home_shows_categories_featured_and_latest(client: Client, shop: object) -> None:
    html = await html_of(client, "/")
    assert html.count("<h1") == 1
    for name in ("Food", "Bakery", "Cakes", "Drinks"):
        assert f">{name}</a>" in html
    assert "Featured" in html
    assert "Sourdough loaf" in html
    assert "Old stock" not in html, "withdrawn products are not listed"
    assert "£4.50" in html


async def test_a_category_lists_its_sub_categories_products(client: Client, shop: object) -> None:
    food = slugs(await html_of(client, "/categories/food"))
    assert sorted(food) == ["carrot-cake", "eggs", "sourdough-loaf"]
    assert slugs(await html_of(client, "/categories/cakes")) == ["carrot-cake"]
    html = await html_of(client, "/categories/cakes")
    assert 'href="/categories/food">Food</a>' in html
    assert 'href="/categories/bakery"' in html
    await html_of(client, "/categories/nothing-here", 404)


async def test_filters_and_sorting_work_as_plain_links(client: Client, shop: object) -> None:
    base = "/categories/food"
    assert slugs(await html_of(client, base + "?sort=price-asc")) == [
        "eggs", "sourdough-loaf", "carrot-cake",
    ]  # fmt: skip
    assert slugs(await html_of(client, base + "?sort=price-desc"))[0] == "carrot-cake"
    assert slugs(await html_of(client, base + "?sort=name")) == [
        "carrot-cake", "eggs", "sourdough-loaf",
    ]  # fmt: skip
    assert sorted(slugs(await html_of(client, base + "?in_stock=1"))) == ["eggs", "sourdough-loaf"]
    assert slugs(await html_of(client, base + "?supplier=old-mill&sort=name")) == [
        "carrot-cake", "sourdough-loaf",
    ]  # fmt: skip
    assert slugs(await html_of(client, base + "?min=3&max=5.00&sort=name")) == ["sourdough-loaf"]
    assert sorted(slugs(await html_of(client, "/products?supplier=hill-farm"))) == [
        "apple-juice", "eggs",
    ]  # fmt: skip
    # The form keeps what was chosen.
    html = await html_of(client, base + "?in_stock=1&sort=name&min=2")
    assert 'name="in_stock" value="1" checked' in html
    assert '<option value="name" selected>' in html
    assert 'value="2"' in html
    # A bad filter value is a 400 with the message beside its field, the listing still shown
    # (without that filter) and the rest of what was chosen kept.
    both = ["carrot-cake", "sourdough-loaf"]
    for bad, field, shown in (
        ("?min=abc", "min", both),
        ("?max=1.234", "max", both),
        ("?sort=cheapest", "sort", both),
        ("?min=5&max=1", "max", ["carrot-cake"]),  # the lowest price still applies
    ):
        resp = await client.get(base + bad + "&supplier=old-mill")
        html = await resp.get_data(as_text=True)
        assert resp.status_code == 400, bad
        assert re.findall(r'class="field-error" id="e-(\w+)"', html) == [field], bad
        assert 'class="error-page"' not in html, bad
        assert sorted(slugs(html)) == shown, bad
        assert '<option value="old-mill" selected>' in html, bad
    assert 'aria-describedby="e-min"' in await html_of(client, base + "?min=abc", 400)
    await html_of(client, base + "?page=0", 404)
    await html_of(client, base + "?supplier=nobody", 404)


def next_link(html: str) -> str | None:
    found = re.search(r'<a rel="next" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


async def test_listings_paginate_with_their_filters(
    client: Client, db: AsyncSession, shop: dict[str, object]
) -> None:
    for i in range(30):
        await factories.product(db, f"Jar {i:02d}", 500 + i, supplier="hill-farm")
    await db.commit()
    html = await html_of(client, "/products?supplier=hill-farm&sort=name")
    assert len(slugs(html)) == 24
    assert 'data-total="32"' in html
    assert "32 products" in html
    nxt = next_link(html)
    assert nxt is not None
    assert "supplier=hill-farm" in nxt
    assert "sort=name" in nxt
    assert "after=" in nxt
    second = await html_of(client, nxt)
    assert len(slugs(second)) == 32 - 24
    assert next_link(second) is None
    assert 'rel="first" href="/products?supplier=hill-farm&amp;sort=name"' in second
    # Links made before keyset paging still work, by offset.
    assert slugs(await html_of(client, "/products?supplier=hill-farm&sort=name&page=2")) == slugs(
        second
    )
    await html_of(client, "/products?page=9", 404)
    supplier_page = await html_of(client, "/suppliers/hill-farm")
    assert len(slugs(supplier_page)) == 24
    assert "Hill Farm" in supplier_page
    rest = await html_of(client, next_link(supplier_page) or "")
    assert len(slugs(rest)) == 8


@pytest.mark.parametrize("sort", ["newest", "price-asc", "price-desc", "name"])
async def test_keyset_pages_hold_every_product_once_with_ties_and_inserts(
    client: Client, db: AsyncSession, shop: dict[str, object], sort: str
) -> None:
    """Many products share each sort key (the same price, the same title, the same moment):
    the "Next" links visit every product exactly once, in order, and a product added while
    paging does not push one already seen onto the next page again."""
    for i in range(60):
        await factories.product(
            db, "Same jar", 250, supplier="old-mill", slug=f"same-jar-{i:02d}", stock=None
        )
    await db.execute(
        text("UPDATE market_products SET created_at = :t WHERE slug LIKE 'same-jar-%'"),
        {"t": datetime(2026, 1, 1, tzinfo=UTC)},
    )
    await db.commit()
    seen: list[str] = []
    url: str | None = f"/products?supplier=old-mill&sort={sort}"
    pages = 0
    while url is not None:
        html = await html_of(client, url)
        seen += slugs(html)
        url, pages = next_link(html), pages + 1
        if pages == 2:  # a product that sorts first arrives after the first page was read
            await factories.product(
                db, "Aardvark jam", 1, supplier="old-mill", slug="aaa-late", stock=None
            )
            await db.commit()
    assert pages == 3
    assert len(seen) == len(set(seen)), "a product was listed twice"
    mill = {"carrot-cake", "sourdough-loaf"} | {f"same-jar-{i:02d}" for i in range(60)}
    assert mill <= set(seen), "a product was skipped"


async def test_bad_cursors_are_a_400_and_change_nothing(
    client: Client, db: AsyncSession, shop: dict[str, object]
) -> None:
    for i in range(30):
        await factories.product(db, f"Pot {i:02d}", 400, supplier="hill-farm")
    await db.commit()
    good = next_link(await html_of(client, "/categories/food?sort=price-asc"))
    assert good is None  # four products in Food: one page
    nxt = next_link(await html_of(client, "/products?sort=price-asc"))
    assert nxt is not None
    cursor = nxt.split("after=", 1)[1]

    def encoded(value: object) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    for bad in (
        "x",
        "%%%",
        "a" * 500,
        encoded(["newest", 400, 1]),  # another sort's cursor
        encoded(["price-asc", "400", 1]),  # a key of the wrong type
        encoded(["price-asc", 400, -1]),
        encoded(["price-asc", 400]),
        encoded({"sort": "price-asc"}),
        base64.urlsafe_b64encode(b"not json").decode(),
    ):
        await html_of(client, f"/products?sort=price-asc&after={bad}", 400)
        await html_of(client, f"/categories/food?sort=price-asc&after={bad}", 400)
        await html_of(client, f"/suppliers/hill-farm?after={bad}", 400)
    await html_of(client, f"/products?sort=name&after={cursor}", 400)
    await html_of(client, f"/products?sort=price-asc&page=2&after={cursor}", 400)
    assert len(slugs(await html_of(client, f"/products?sort=price-asc&after={cursor}"))) > 0


async def test_a_product_page_has_its_facts_and_sharing_tags(client: Client, shop: object) -> None:
    html = await html_of(client, "/products/sourdough-loaf")
    assert html.count("<h1") == 1
    assert "<p>Baked with <b>rye</b> flour.</p>" in html
    assert "Only 3 left" in html
    assert meta(html, "og:type") == "product"
    assert meta(html, "og:title") == "Sourdough loaf"
    assert meta(html, "og:url") == "http://127.0.0.1:8002/products/sourdough-loaf"
    assert meta(html, "og:image") == "http://127.0.0.1:8002/static/img/market/loaf.svg"
    assert meta(html, "product:price:amount") == "4.50"
    assert meta(html, "product:price:currency") == "GBP"
    withdrawn = await html_of(client, "/products/old-stock")
    assert "No longer available" in withdrawn
    assert "Sold out" in await html_of(client, "/products/carrot-cake")
    await html_of(client, "/products/no-such-thing", 404)


async def test_a_product_that_cannot_be_bought_says_why_on_a_disabled_button(
    client: Client, db: AsyncSession, shop: object
) -> None:
    for slug, why in (("carrot-cake", "Sold out"), ("old-stock", "No longer available")):
        html = await html_of(client, f"/products/{slug}")
        assert 'action="/cart-add"' not in html, slug
        found = re.search(
            r'<button type="button" disabled aria-describedby="(why-product-\d+)">Add to cart<',
            html,
        )
        assert found, slug
        assert f'<span class="add-to-cart__why" id="{found.group(1)}">{why}</span>' in html
    # The same on the cards of a listing; a product in stock keeps its working button.
    listing = await html_of(client, "/categories/cakes")
    assert "add-to-cart__why" in listing
    assert 'action="/cart-add"' in await html_of(client, "/products/sourdough-loaf")


async def test_a_product_page_says_its_summary_once_and_its_unit_in_words(
    client: Client, db: AsyncSession, shop: object
) -> None:
    await factories.product(
        db, "Rye bread", 450, unit="800 g", summary="A slow rye.",
        description="<p>A slow rye.</p><p>Collect it at the café.</p>",
    )  # fmt: skip
    await db.commit()
    html = await html_of(client, "/products/rye-bread")
    main = html.split('<main id="content">', 1)[1]
    assert main.count("A slow rye.") == 1  # in the description, not again as the lede
    assert 'class="lede"' not in html
    assert '<p class="product__unit">Weighs 800 g</p>' in html
    assert "Sold by" not in html
    # A summary the description does not repeat is shown as the lede.
    assert '<p class="lede">A slow rye sourdough.</p>' in await html_of(
        client, "/products/sourdough-loaf"
    )
    assert '<p class="product__unit">Pack of 6</p>' in await html_of(client, "/products/eggs")


@pytest.mark.parametrize(
    ("unit", "words"),
    [
        ("each", "Sold individually"),
        ("kg", "Sold by the kg"),
        ("800 g", "Weighs 800 g"),
        ("1.5 kg", "Weighs 1.5 kg"),
        ("1 litre", "Holds 1 litre"),
        ("6", "Pack of 6"),
        ("box of 4", "Sold as a box of 4"),
        ("whole cake", "Sold as a whole cake"),
        ("egg box", "Sold as an egg box"),
    ],
)
def test_units_read_as_words(unit: str, words: str) -> None:
    assert sold_as(unit) == words


async def test_search_ranks_highlights_and_escapes(
    client: Client, db: AsyncSession, shop: object
) -> None:
    await factories.product(
        db, "Rye crackers", 250, summary="Crisp <script>alert(1)</script> rye crackers."
    )
    await db.commit()
    html = await html_of(client, "/search?q=rye")
    found = re.findall(r'<li data-product-slug="([^"]+)"', html)
    assert set(found) == {"sourdough-loaf", "rye-crackers"}
    assert "<mark>rye</mark>" in html.lower() or "<mark>Rye</mark>" in html
    assert "<script>alert(1)</script>" not in html
    assert "Old stock" not in await html_of(client, "/search?q=stock")
    assert "0 results" in await html_of(client, "/search?q=zzzzqqq")
    await html_of(client, "/search?q=" + "x" * 5000)


async def test_market_pages_show_their_items_in_order(
    client: Client, db: AsyncSession, shop: object
) -> None:
    page = await services().catalog.create_market_page(
        db,
        MarketPageInput(
            title="Breakfast",
            intro="<p>Good <em>mornings</em>.<script>x()</script></p>",
            published=True,
            items=(("product", "eggs"), ("category", "bakery"), ("product", "sourdough-loaf")),
        ),
    )
    draft = await services().catalog.create_market_page(db, MarketPageInput(title="Secret"))
    await db.commit()
    html = await html_of(client, f"/pages/{page.slug}")
    assert "<p>Good <em>mornings</em>.</p>" in html
    assert "x()" not in html
    assert html.index("Eggs") < html.index(">Bakery<") < html.index("Sourdough loaf")
    await html_of(client, f"/pages/{draft.slug}", 404)
    assert "Breakfast" in await html_of(client, "/")


async def test_listings_run_a_bounded_number_of_queries(
    client: Client, db: AsyncSession, engine: AsyncEngine
) -> None:
    """No N+1: the same statements for 3 products as for 30, each with a supplier, two
    categories and two images."""
    farm = await factories.supplier(db, "Counting Farm")
    veg = await factories.category(db, "Veg")
    roots = await factories.category(db, "Roots", parent=veg)

    async def add(n: int) -> None:
        for i in range(n):
            await factories.product(
                db,
                f"Turnip {i}",
                supplier=farm.slug,
                categories=(veg.slug, roots.slug),
                featured=i < 2,
                images=(),
            )
        await db.commit()

    await add(3)
    with count_statements(engine) as few_home, count_statements(engine):
        await html_of(client, "/")
    with count_statements(engine) as few_listing:
        await html_of(client, "/categories/veg?in_stock=1&sort=price-asc")
    with count_statements(engine) as few_search:
        await html_of(client, "/search?q=turnip")
    await add(27)
    with count_statements(engine) as many_home:
        await html_of(client, "/")
    with count_statements(engine) as many_listing:
        html = await html_of(client, "/categories/veg?in_stock=1&sort=price-asc")
    with count_statements(engine) as many_search:
        await html_of(client, "/search?q=turnip")
    assert len(slugs(html)) == 24
    assert len(many_home) == len(few_home)
    assert len(many_listing) == len(few_listing)
    assert len(many_search) == len(few_search)
    assert len(many_listing) <= 3, "\n".join(many_listing)


async def test_the_demo_market_is_real_and_seeding_is_idempotent(
    client: Client, db: AsyncSession
) -> None:
    from sqlalchemy import func, select

    from shared.models import BlogPost, Product
    from shared.services.blog.demo import seed_blog
    from shared.services.identity.demo import seed_identity
    from shared.services.market.demo import seed_market

    await seed_identity(db)
    await seed_blog(db)
    await seed_market(db)
    await seed_market(db)
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(Product)) == 40
    home = await html_of(client, "/")
    assert "Featured" in home
    assert "Sunday breakfast" in home
    assert len(slugs(await html_of(client, "/categories/food"))) == 24
    assert next_link(await html_of(client, "/categories/food?in_stock=1&sort=price-asc"))
    assert "Wildflower honey" in await html_of(client, "/search?q=honey")
    assert "Free-range eggs" in await html_of(client, "/pages/sunday-breakfast")
    assert "Hill Farm" in await html_of(client, "/suppliers/hill-farm")
    product = await html_of(client, "/products/sourdough-loaf")
    assert 'src="/static/img/market/loaf.svg"' in product
    image = await client.get("/static/img/market/loaf.svg")
    assert image.status_code == 200
    post = await db.scalar(select(BlogPost).where(BlogPost.slug == "from-the-market-this-week"))
    assert post is not None
    assert '<div data-product="sourdough-loaf"></div>' in post.html
