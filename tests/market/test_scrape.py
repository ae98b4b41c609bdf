"""The supplier-catalogue importer against a supplier site served on loopback by the test:
products from JSON-LD, microdata, RDFa and OpenGraph; robots.txt obeyed; refusals (a redirect
to a non-allowed address, an oversize page, a malformed page) recorded with their URLs;
conditional requests; a second run unchanged; price changes kept; vanished products marked
unavailable; one run per source at a time; a run that dies leaves a failed run and no product.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.config import Settings
from shared.contracts import ScrapeRunDTO, ScrapeSourceDTO
from shared.models import PriceChange, Product, ProductImage, ScrapeRun, ScrapeSource
from shared.services.market.scrape.crawler import crawl
from shared.services.market.scrape.fetch import HostThrottle
from shared.services.market.scrape.runner import run_source
from tests.market.scrape_support import (
    committed,
    jsonld_page,
    listing,
    make_source,
    microdata_page,
    og_page,
    rdfa_page,
)
from tests.standins.supplier_site import Page, SupplierSite
from tests.support import eventually
from tests.support.settings import make_settings

PRODUCTS = ("/p/apple-juice", "/p/honey", "/p/eggs", "/p/jam")


@pytest.fixture
async def scrape_settings(scratch_database_url: str, redis_url: str) -> Settings:
    return make_settings(
        scratch_database_url,
        redis_url,
        ROSE_SCRAPE__ALLOW_ADDRESSES="127.0.0.1/32",
        ROSE_SCRAPE__MIN_DELAY_S="0",
        ROSE_SCRAPE__MAX_BODY_BYTES="200000",
        ROSE_SCRAPE__TIMEOUT_S="5",
    )


@pytest.fixture
async def engine(scratch_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(scratch_database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def elsewhere() -> AsyncIterator[SupplierSite]:
    """A server on another loopback address (127.0.0.2), outside the allow-list."""
    site = await SupplierSite(host="127.0.0.2").start()
    site.html("/secret", "<p>internal</p>")
    yield site
    await site.close()


@pytest.fixture
async def site(elsewhere: SupplierSite) -> AsyncIterator[SupplierSite]:
    site = await SupplierSite().start()
    site.html(
        "/robots.txt",
        "User-agent: *\nDisallow: /private/\n",
        content_type="text/plain",
    )
    site.html(
        "/",
        listing(
            *PRODUCTS,
            "/private/secret-product",
            "/p/broken",
            "/p/huge",
            "/go/elsewhere",
            "/about",
            "/img/a.jpg",
            "https://other.example/p/x",
        ),
    )
    site.html(
        "/p/apple-juice",
        jsonld_page(
            "Apple juice",
            "2.95",
            description='Pressed from <b onclick="x()">three</b> apples.<script>alert(1)</script>',
            links='<a href="/">Home</a>',
        ),
    )
    site.html("/p/honey", microdata_page("Heather honey", "6.00"))
    site.html("/p/eggs", rdfa_page("Free-range eggs", "3.20"))
    site.html("/p/jam", og_page("Damson jam", "4.50"))
    site.html("/private/secret-product", jsonld_page("Secret", "1.00"))
    site.html(
        "/p/broken",
        '<html><head><script type="application/ld+json">{"@type": "Product", "name": '
        "</script></head><body>\x00\x01</body></html>",
    )
    site.streams["/p/huge"] = 400_000
    site.redirects["/go/elsewhere"] = f"{elsewhere.base}/secret"
    site.html("/about", "<html><body><p>We are a farm.</p></body></html>")
    yield site
    await site.close()


async def products_of(engine: AsyncEngine, source: ScrapeSourceDTO) -> dict[str, Product]:
    async with committed(engine) as session:
        rows = await session.scalars(
            select(Product).where(Product.supplier_id == source.supplier_id)
        )
        return {p.source_url or "": p for p in rows}


async def scrape(settings: Settings, engine: AsyncEngine, source: ScrapeSourceDTO) -> ScrapeRunDTO:
    run = await run_source(settings, engine, source.id)
    assert run is not None
    return run


def errors_by_url(run: ScrapeRunDTO) -> dict[str, str]:
    return {e.url: e.error for e in run.errors}


async def test_a_crawl_imports_every_syntax_and_obeys_robots(
    scrape_settings: Settings,
    engine: AsyncEngine,
    site: SupplierSite,
    elsewhere: SupplierSite,
) -> None:
    source = await make_source(engine, "orchard-one", f"{site.base}/")
    run = await scrape(scrape_settings, engine, source)

    assert run.status == "finished"
    assert (run.created, run.updated, run.unchanged, run.unavailable) == (4, 0, 0, 0)
    products = await products_of(engine, source)
    base = site.base
    assert {
        url: (p.title, p.price_minor, p.currency, p.available) for url, p in products.items()
    } == {
        f"{base}/p/apple-juice": ("Apple juice", 295, "GBP", True),
        f"{base}/p/honey": ("Heather honey", 600, "GBP", True),
        f"{base}/p/eggs": ("Free-range eggs", 320, "GBP", True),
        f"{base}/p/jam": ("Damson jam", 450, "GBP", True),
    }
    juice = products[f"{base}/p/apple-juice"]
    assert juice.sku == "SKU-APP"
    # Hostile markup in a description is sanitized; microdata gives text, kept as a paragraph.
    assert juice.description == "Pressed from <b>three</b> apples."
    assert juice.plaintext == "Pressed from three apples."
    assert juice.last_imported_at is not None
    assert products[f"{base}/p/honey"].description == "<p>Raw and unfiltered.</p>"

    # robots.txt was read and its Disallow obeyed: the private page was never asked for.
    assert site.requested("/robots.txt")
    assert site.requested("/private/secret-product") == []
    # Every request names us.
    assert all(r.headers["user-agent"].startswith("RoseAshBot/1.0 (+") for r in site.log)
    # Only the supplier's host is crawled.
    assert not any("other.example" in r.path for r in site.log)
    assert site.requested("/img/a.jpg") == []

    errors = errors_by_url(run)
    assert errors[f"{base}/p/broken"].startswith("page_malformed")
    assert errors[f"{base}/p/huge"].startswith("fetch_too_large")
    # The redirect pointed outside the allow-list: refused after resolution, never contacted.
    assert errors[f"{base}/go/elsewhere"].startswith("address_forbidden")
    assert elsewhere.log == []
    assert run.pages_fetched == 9  # / + 4 products + broken + huge + redirect + about

    async with committed(engine) as session:
        images = list(
            await session.scalars(
                select(ProductImage.url).where(ProductImage.product_id == juice.id)
            )
        )
        history = list(
            await session.scalars(select(PriceChange).where(PriceChange.product_id == juice.id))
        )
    assert images == [f"{base}/img/a.jpg"]
    assert [(h.old_price_minor, h.new_price_minor, h.source) for h in history] == [
        (None, 295, "scrape")
    ]


async def test_a_second_run_is_unchanged_with_conditional_requests(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    source = await make_source(engine, "orchard-two", f"{site.base}/")
    first = await scrape(scrape_settings, engine, source)
    assert first.created == 4
    before = {url: p.updated_at for url, p in (await products_of(engine, source)).items()}
    site.log.clear()

    second = await scrape(scrape_settings, engine, source)
    assert (second.created, second.updated, second.unchanged, second.unavailable) == (0, 0, 4, 0)
    # Each page we had was asked for with its ETag and answered 304: nothing was re-parsed.
    for path in (*PRODUCTS, "/"):
        [request] = site.requested(path)
        assert request.headers.get("if-none-match", "").startswith('"'), path
    after = await products_of(engine, source)
    assert {url: p.updated_at for url, p in after.items()} == before
    assert all(p.last_imported_at is not None for p in after.values())


async def test_pages_without_validators_are_unchanged_by_their_hash(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    for page in site.pages.values():
        page.etag = False
    source = await make_source(engine, "orchard-hash", f"{site.base}/")
    assert (await scrape(scrape_settings, engine, source)).created == 4
    again = await scrape(scrape_settings, engine, source)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)


async def test_price_changes_are_kept_and_vanished_products_marked_unavailable(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    source = await make_source(engine, "orchard-three", f"{site.base}/")
    await scrape(scrape_settings, engine, source)

    site.html("/p/honey", microdata_page("Heather honey", "6.50"))
    site.html("/p/eggs", rdfa_page("Free-range eggs", "3.20").replace("eggs", "eggs!"))
    # The jam is no longer listed, and its page has gone; the apple juice is out of stock.
    site.html("/", listing("/p/apple-juice", "/p/honey", "/p/eggs"))
    del site.pages["/p/jam"]
    site.html(
        "/p/apple-juice",
        jsonld_page("Apple juice", "2.95", availability="https://schema.org/OutOfStock"),
    )
    run = await scrape(scrape_settings, engine, source)
    assert (run.created, run.updated, run.unchanged, run.unavailable) == (0, 3, 0, 1)

    products = await products_of(engine, source)
    base = site.base
    honey = products[f"{base}/p/honey"]
    assert honey.price_minor == 650
    jam = products[f"{base}/p/jam"]  # never deleted
    assert jam.available is False
    assert products[f"{base}/p/apple-juice"].available is False
    async with committed(engine) as session:
        history = list(
            await session.scalars(
                select(PriceChange)
                .where(PriceChange.product_id == honey.id)
                .order_by(PriceChange.id)
            )
        )
    assert [(h.old_price_minor, h.new_price_minor, h.currency, h.source) for h in history] == [
        (None, 600, "GBP", "scrape"),
        (600, 650, "GBP", "scrape"),
    ]

    # The jam comes back: available again, the same product (no duplicate).
    site.html("/", listing(*PRODUCTS))
    site.html("/p/jam", og_page("Damson jam", "4.50"))
    run = await scrape(scrape_settings, engine, source)
    assert run.updated >= 1
    again = await products_of(engine, source)
    assert again[f"{base}/p/jam"].id == jam.id
    assert again[f"{base}/p/jam"].available is True


async def test_an_incomplete_crawl_marks_nothing_unavailable(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    source = await make_source(engine, "orchard-limit", f"{site.base}/")
    await scrape(scrape_settings, engine, source)
    async with committed(engine) as session:
        row = await session.get(ScrapeSource, source.id)
        assert row is not None
        row.settings = {"max_pages": 2}
    run = await scrape(scrape_settings, engine, source)
    assert run.pages_fetched == 2
    assert run.unavailable == 0
    assert all(p.available for p in (await products_of(engine, source)).values())


async def test_a_failing_page_keeps_its_product(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    source = await make_source(engine, "orchard-flaky", f"{site.base}/")
    await scrape(scrape_settings, engine, source)
    site.pages["/p/honey"] = Page(b"oops", status=500, etag=False)
    run = await scrape(scrape_settings, engine, source)
    assert errors_by_url(run)[f"{site.base}/p/honey"] == "fetch_status: answered 500"
    assert run.unavailable == 0
    assert (await products_of(engine, source))[f"{site.base}/p/honey"].available is True


async def test_a_sitemap_source(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    base = site.base
    site.html(
        "/sitemap-index.xml",
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/sitemap-products.xml</loc></sitemap></sitemapindex>",
        content_type="application/xml",
    )
    site.html(
        "/sitemap-products.xml",
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{base}{p}</loc></url>" for p in ("/p/apple-juice", "/p/honey"))
        + f"<url><loc>{base}/private/secret-product</loc></url>"
        + "<url><loc>https://other.example/p/x</loc></url></urlset>",
        content_type="application/xml",
    )
    source = await make_source(engine, "orchard-map", f"{base}/sitemap-index.xml", kind="sitemap")
    run = await scrape(scrape_settings, engine, source)
    assert run.status == "finished"
    assert run.created == 2
    assert site.requested("/private/secret-product") == []
    assert site.requested("/") == []  # a sitemap source follows no links


async def test_a_sitemap_with_entities_is_refused(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    site.html(
        "/bomb.xml",
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        "<urlset><url><loc>&lol2;</loc></url></urlset>",
        content_type="application/xml",
    )
    source = await make_source(engine, "orchard-bomb", f"{site.base}/bomb.xml", kind="sitemap")
    run = await scrape(scrape_settings, engine, source)
    assert errors_by_url(run)[f"{site.base}/bomb.xml"].startswith("sitemap_malformed")
    assert run.created == 0


async def test_without_the_allow_list_loopback_is_refused(
    scrape_settings: Settings,
    scratch_database_url: str,
    redis_url: str,
    engine: AsyncEngine,
    site: SupplierSite,
) -> None:
    # An allow-list that does not cover loopback (the dev config's covers it).
    strict = make_settings(
        scratch_database_url,
        redis_url,
        ROSE_SCRAPE__MIN_DELAY_S="0",
        ROSE_SCRAPE__ALLOW_ADDRESSES="192.0.2.0/24",
    )
    source = await make_source(engine, "orchard-strict", f"{site.base}/")
    run = await scrape(strict, engine, source)
    assert run.created == 0
    assert any("address_forbidden" in e.error for e in run.errors)
    assert site.log == []


async def test_crawl_delay_spaces_requests(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    site.html(
        "/robots.txt", "User-agent: RoseAshBot\nCrawl-delay: 0.3\n", content_type="text/plain"
    )
    site.html("/", listing("/p/apple-juice", "/p/honey"))
    source = await make_source(engine, "orchard-slow", f"{site.base}/")
    clock = VirtualClock()
    throttle = HostThrottle(0, clock=clock.now, sleep=clock.sleep)
    result = await crawl(scrape_settings, source, throttle=throttle)
    assert len(result.pages) == 3
    # robots.txt (which sets the delay), then three pages: the second and third page each
    # waited for the delay after the one before (the clock moves only when the throttle sleeps).
    assert clock.slept == pytest.approx([0.3, 0.3])


class VirtualClock:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.time = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)


async def test_one_run_per_source_at_a_time(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    site.stalls["/p/honey"] = 1.5
    source = await make_source(engine, "orchard-busy", f"{site.base}/")
    first = asyncio.create_task(run_source(scrape_settings, engine, source.id))
    # The first run is waiting on the stalled page.
    await eventually(lambda: site.requested("/p/honey"), "the first run reached the stalled page")
    assert await run_source(scrape_settings, engine, source.id) is None
    done = await first
    assert done is not None
    assert done.created == 4


async def test_a_run_that_dies_is_failed_and_writes_no_product(
    scrape_settings: Settings, engine: AsyncEngine, site: SupplierSite
) -> None:
    source = await make_source(engine, "orchard-crash", f"{site.base}/")

    def interrupt(fetched: int, waiting: int) -> None:
        if fetched >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await run_source(scrape_settings, engine, source.id, progress=interrupt)
    assert await products_of(engine, source) == {}
    async with committed(engine) as session:
        [run] = await session.scalars(select(ScrapeRun).where(ScrapeRun.source_id == source.id))
        assert run.status == "failed"
        assert run.pages_fetched == 3
        assert run.errors[-1]["error"] == "KeyboardInterrupt"

    # A run left 'running' by a process that died is failed by the next one.
    async with committed(engine) as session:
        session.add(ScrapeRun(source_id=source.id, status="running"))
    run = await scrape(scrape_settings, engine, source)
    assert run.created == 4
    async with committed(engine) as session:
        statuses = list(
            await session.scalars(
                select(ScrapeRun.status)
                .where(ScrapeRun.source_id == source.id)
                .order_by(ScrapeRun.id)
            )
        )
        assert statuses == ["failed", "failed", "finished"]
        assert (
            await session.scalar(
                select(func.count())
                .select_from(Product)
                .where(Product.supplier_id == source.supplier_id)
            )
            == 4
        )
