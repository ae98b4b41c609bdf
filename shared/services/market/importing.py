"""Importing supplier catalogues into the market: scrape sources, runs, and storing what a
crawl found (implements :class:`shared.contracts.CatalogImportService`).

The crawl itself (network, robots.txt, extraction) is :mod:`shared.services.market.scrape`;
this module only touches the database. :meth:`SqlCatalogImportService.finish_scrape_run`
stores a whole crawl in the caller's one transaction: products created or updated (a price
change goes into the price history), unchanged ones stamped, vanished ones marked unavailable
(never deleted: orders point at them), the pages' validators kept for the next run's
conditional requests, and the run's counts. A crawl that dies before it leaves a run marked
failed and no product touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CrawlResult,
    KnownPage,
    ScrapedProduct,
    ScrapeErrorDTO,
    ScrapeRunDTO,
    ScrapeRunStart,
    ScrapeSourceDTO,
    ScrapeSourceInput,
    ScrapeSupplierDTO,
)
from shared.contracts.errors import InvalidScrapeSource
from shared.errors import Conflict, FieldErrors, NotFound
from shared.infrastructure.sanitize import html_to_text, slugify
from shared.models import (
    PriceChange,
    Product,
    ProductImage,
    ScrapePage,
    ScrapeRequest,
    ScrapeRun,
    ScrapeSource,
    Supplier,
)
from shared.services import audit

SUMMARY_MAX = 300
MAX_INTERVAL_HOURS = 24 * 30
MAX_SOURCES_PER_SUPPLIER = 20
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _summary(text: str) -> str | None:
    if not text:
        return None
    if len(text) <= SUMMARY_MAX:
        return text
    cut = text[: SUMMARY_MAX - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _product_from_json(data: Any) -> ScrapedProduct | None:
    if not isinstance(data, dict):
        return None
    try:
        return ScrapedProduct(**{**data, "images": tuple(data.get("images", ()))})
    except TypeError:
        return None  # stored by an older importer: parse the page again


def _product_json(product: ScrapedProduct | None) -> dict[str, Any] | None:
    if product is None:
        return None
    data = asdict(product)
    data["images"] = list(product.images)
    return data


# Suppliers with how many scrape sources each has, in ScrapeSupplierDTO's field order.
_SUPPLIERS = select(
    Supplier.id,
    Supplier.slug,
    Supplier.name,
    Supplier.website,
    select(func.count())
    .select_from(ScrapeSource)
    .where(ScrapeSource.supplier_id == Supplier.id)
    .scalar_subquery(),
)


class SqlCatalogImportService:
    """Implements :class:`shared.contracts.CatalogImportService`."""

    # -- sources (staff) --

    async def scrape_suppliers(self, session: AsyncSession) -> tuple[ScrapeSupplierDTO, ...]:
        """Every supplier with how many scrape sources it has, by name."""
        rows = await session.execute(_SUPPLIERS.order_by(Supplier.name, Supplier.id))
        return tuple(ScrapeSupplierDTO(*r) for r in rows)

    async def scrape_supplier(self, session: AsyncSession, slug: str) -> ScrapeSupplierDTO:
        """One supplier by its slug, with how many scrape sources it has."""
        for r in await session.execute(_SUPPLIERS.where(Supplier.slug == slug)):
            return ScrapeSupplierDTO(*r)
        raise NotFound("supplier_not_found", f"There is no supplier {slug[:100]!r}.")

    async def supplier_sources(
        self, session: AsyncSession, supplier_id: int
    ) -> tuple[ScrapeSourceDTO, ...]:
        """The supplier's scrape sources, oldest first."""
        return tuple(await self._sources(session, ScrapeSource.supplier_id == supplier_id))

    async def scrape_source(self, session: AsyncSession, source_id: int) -> ScrapeSourceDTO:
        found = await self._sources(session, ScrapeSource.id == source_id)
        if not found:
            raise NotFound("scrape_source_not_found", "There is no such scrape source.")
        return found[0]

    async def _sources(self, session: AsyncSession, *where: Any) -> list[ScrapeSourceDTO]:
        requested = (
            select(ScrapeRequest.source_id)
            .where(ScrapeRequest.source_id == ScrapeSource.id)
            .exists()
        )
        rows = await session.execute(
            select(ScrapeSource, Supplier.slug, Supplier.name, requested)
            .join(Supplier, Supplier.id == ScrapeSource.supplier_id)
            .where(*where)
            .order_by(ScrapeSource.id)
        )
        return [_source_dto(src, slug, name, bool(req)) for src, slug, name, req in rows]

    async def add_scrape_source(
        self,
        session: AsyncSession,
        supplier_id: int,
        data: ScrapeSourceInput,
        actor_user_id: int | None,
    ) -> ScrapeSourceDTO:
        """Validate and add a source to a supplier."""
        supplier = await session.get(Supplier, supplier_id)
        if supplier is None:
            raise NotFound("supplier_not_found", "There is no such supplier.")
        values = _validated(data)
        existing = await session.scalar(
            select(func.count())
            .select_from(ScrapeSource)
            .where(ScrapeSource.supplier_id == supplier_id)
        )
        if (existing or 0) >= MAX_SOURCES_PER_SUPPLIER:
            raise InvalidScrapeSource(
                "too_many_sources", "This supplier has as many sources as it may.", "start_url"
            )
        source = ScrapeSource(supplier_id=supplier_id, **values)
        session.add(source)
        await session.flush()
        audit.record(
            session,
            "market.scrape_source.add",
            object_type="scrape_source",
            object_id=source.id,
            actor_user_id=actor_user_id,
            after={"supplier_id": supplier_id, "start_url": source.start_url, "kind": source.kind},
        )
        return await self.scrape_source(session, source.id)

    async def set_scrape_source_enabled(
        self, session: AsyncSession, source_id: int, enabled: bool, actor_user_id: int | None
    ) -> ScrapeSourceDTO:
        """Turn a source's scheduled runs on or off (it can still be run by hand)."""
        result = await session.execute(
            update(ScrapeSource).where(ScrapeSource.id == source_id).values(enabled=enabled)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("scrape_source_not_found", "There is no such scrape source.")
        audit.record(
            session,
            "market.scrape_source.enable" if enabled else "market.scrape_source.disable",
            object_type="scrape_source",
            object_id=source_id,
            actor_user_id=actor_user_id,
        )
        return await self.scrape_source(session, source_id)

    async def request_scrape_run(
        self, session: AsyncSession, source_id: int, actor_user_id: int | None
    ) -> ScrapeSourceDTO:
        """Ask the worker to run this source as soon as it can (once, however often asked)."""
        if await session.get(ScrapeSource, source_id) is None:
            raise NotFound("scrape_source_not_found", "There is no such scrape source.")
        inserted = await session.execute(
            insert(ScrapeRequest)
            .values(source_id=source_id, requested_by=actor_user_id)
            .on_conflict_do_nothing(index_elements=[ScrapeRequest.source_id])
            .returning(ScrapeRequest.source_id)
        )
        if inserted.scalar() is not None:
            audit.record(
                session,
                "market.scrape_source.run_requested",
                object_type="scrape_source",
                object_id=source_id,
                actor_user_id=actor_user_id,
            )
        return await self.scrape_source(session, source_id)

    # -- runs --

    async def scrape_runs(
        self, session: AsyncSession, source_id: int, limit: int
    ) -> tuple[ScrapeRunDTO, ...]:
        """The source's latest runs, newest first."""
        rows = await session.scalars(
            select(ScrapeRun)
            .where(ScrapeRun.source_id == source_id)
            .order_by(ScrapeRun.started_at.desc(), ScrapeRun.id.desc())
            .limit(max(1, min(limit, 200)))
        )
        return tuple(_run_dto(run) for run in rows)

    async def scrape_run(self, session: AsyncSession, run_id: int) -> ScrapeRunDTO:
        run = await session.get(ScrapeRun, run_id)
        if run is None:
            raise NotFound("scrape_run_not_found", "There is no such run.")
        return _run_dto(run)

    async def due_scrape_sources(self, session: AsyncSession, now: datetime) -> tuple[int, ...]:
        """Sources a worker should run now: asked for by staff, or enabled and due by their
        interval. Oldest first."""
        requested = (
            select(ScrapeRequest.source_id)
            .where(ScrapeRequest.source_id == ScrapeSource.id)
            .exists()
        )
        due = or_(
            requested,
            ScrapeSource.enabled.is_(True)
            & or_(
                ScrapeSource.last_run_at.is_(None),
                ScrapeSource.last_run_at
                <= now - func.make_interval(0, 0, 0, 0, ScrapeSource.interval_hours),
            ),
        )
        ids = await session.scalars(
            select(ScrapeSource.id)
            .where(due)
            .order_by(ScrapeSource.last_run_at.asc().nulls_first(), ScrapeSource.id)
        )
        return tuple(ids)

    async def start_scrape_run(
        self, session: AsyncSession, source_id: int, now: datetime
    ) -> ScrapeRunStart:
        """Begin a run (the caller holds the source's run lock): runs left 'running' by a
        process that died are marked failed, a pending "run now" request is taken."""
        source = await self.scrape_source(session, source_id)
        await session.execute(
            update(ScrapeRun)
            .where(ScrapeRun.source_id == source_id, ScrapeRun.status == "running")
            .values(
                status="failed",
                finished_at=now,
                errors=ScrapeRun.errors.op("||")(
                    func.jsonb_build_array(
                        func.jsonb_build_object(
                            "url",
                            source.start_url,
                            "error",
                            "interrupted: the process running it stopped",
                        )
                    )
                ),
            )
        )
        await session.execute(delete(ScrapeRequest).where(ScrapeRequest.source_id == source_id))
        await session.execute(
            update(ScrapeSource).where(ScrapeSource.id == source_id).values(last_run_at=now)
        )
        run = ScrapeRun(
            source_id=source_id,
            status="running",
            started_at=now,
            pages_fetched=0,
            created=0,
            updated=0,
            unchanged=0,
            unavailable=0,
            errors=[],
        )
        session.add(run)
        await session.flush()
        pages = await session.scalars(select(ScrapePage).where(ScrapePage.source_id == source_id))
        known = tuple(
            KnownPage(
                url=page.url,
                etag=page.etag,
                last_modified=page.last_modified,
                content_hash=page.content_hash,
                product=_product_from_json(page.data.get("product")),
                links=tuple(page.data.get("links") or ()),
            )
            for page in pages
        )
        return ScrapeRunStart(run=_run_dto(run), source=source, known=known)

    async def fail_scrape_run(
        self, session: AsyncSession, run_id: int, error: str, pages_fetched: int, now: datetime
    ) -> ScrapeRunDTO:
        """Record that a run stopped before storing anything."""
        run = await session.get(ScrapeRun, run_id, with_for_update=True)
        if run is None:
            raise NotFound("scrape_run_not_found", "There is no such run.")
        if run.status == "running":
            run.status = "failed"
            run.finished_at = now
            run.pages_fetched = pages_fetched
            run.errors = [*run.errors, {"url": "", "error": error[:500]}]
        await session.flush()
        return _run_dto(run)

    async def finish_scrape_run(
        self, session: AsyncSession, run_id: int, result: CrawlResult, now: datetime
    ) -> ScrapeRunDTO:
        """Store everything a crawl found, in the caller's one transaction."""
        run = await session.get(ScrapeRun, run_id, with_for_update=True)
        if run is None:
            raise NotFound("scrape_run_not_found", "There is no such run.")
        if run.status != "running":
            raise Conflict("scrape_run_over", "This run has already ended.")
        source = await session.get(ScrapeSource, run.source_id)
        assert source is not None  # the run's foreign key cascades
        store = _Store(session, source.supplier_id, now)
        page_products: dict[str, int | None] = {}
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        by_url: dict[str, ScrapedProduct] = {}
        for page in result.pages:
            if page.product is not None:
                by_url.setdefault(page.product.url, page.product)
        await store.load(by_url)
        for product in by_url.values():
            outcome = await store.apply(product)
            counts[outcome] += 1
        for page in result.pages:
            page_products[page.url] = (
                store.ids.get(page.product.url) if page.product is not None else None
            )
        linked = dict(
            (
                await session.execute(
                    select(ScrapePage.url, ScrapePage.product_id).where(
                        ScrapePage.source_id == source.id, ScrapePage.product_id.is_not(None)
                    )
                )
            ).all()
        )
        seen = {page.url for page in result.pages} | set(result.failed)
        keep = set(result.failed)
        vanished: set[int] = set()
        for url, product_id in linked.items():
            if url in keep or product_id is None:
                continue
            if url in seen:
                # A page that no longer describes a product (or is gone) leaves its product.
                if page_products.get(url) != product_id:
                    vanished.add(product_id)
            elif result.complete:
                vanished.add(product_id)  # the site no longer leads to it
        vanished -= set(store.ids.values())
        unavailable = await store.mark_unavailable(vanished)
        await store.stamp_unchanged()
        await self._keep_pages(session, source.id, result, page_products, linked)
        run.status = "finished"
        run.finished_at = now
        run.pages_fetched = result.pages_fetched
        run.created = counts["created"]
        run.updated = counts["updated"]
        run.unchanged = counts["unchanged"]
        run.unavailable = unavailable
        run.errors = [{"url": e.url, "error": e.error} for e in result.errors]
        await session.flush()
        return _run_dto(run)

    async def _keep_pages(
        self,
        session: AsyncSession,
        source_id: int,
        result: CrawlResult,
        page_products: dict[str, int | None],
        linked: dict[str, int | None],
    ) -> None:
        """Remember each page's validators and contents for the next run; forget pages that
        are gone, and (after a complete crawl) pages the site no longer leads to."""
        rows = [
            {
                "source_id": source_id,
                "url": page.url,
                "etag": (page.etag or None) and page.etag[:500],
                "last_modified": (page.last_modified or None) and page.last_modified[:100],
                "content_hash": page.content_hash,
                "product_id": page_products.get(page.url),
                "data": {"product": _product_json(page.product), "links": list(page.links)},
            }
            for page in result.pages
            if not page.gone
        ]
        for chunk in _chunks(rows, 500):
            stmt = insert(ScrapePage).values(chunk)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[ScrapePage.source_id, ScrapePage.url],
                    set_={
                        "etag": stmt.excluded.etag,
                        "last_modified": stmt.excluded.last_modified,
                        "content_hash": stmt.excluded.content_hash,
                        "product_id": stmt.excluded.product_id,
                        "data": stmt.excluded.data,
                        "fetched_at": func.now(),
                    },
                )
            )
        gone = [page.url for page in result.pages if page.gone]
        if result.complete:
            seen = {page.url for page in result.pages} | set(result.failed)
            gone += [url for url in linked if url not in seen]
        if gone:
            await session.execute(
                delete(ScrapePage).where(
                    ScrapePage.source_id == source_id, ScrapePage.url.in_(gone)
                )
            )


class _Store:
    """Creates and updates one supplier's products from scraped ones (bulk reads first)."""

    def __init__(self, session: AsyncSession, supplier_id: int, now: datetime) -> None:
        self.session = session
        self.supplier_id = supplier_id
        self.now = now
        self.existing: dict[str, Product] = {}
        self.images: dict[int, list[str]] = {}
        self.ids: dict[str, int] = {}
        self.unchanged: list[int] = []

    async def load(self, products: dict[str, ScrapedProduct]) -> None:
        urls = list(products)
        for chunk in _chunks(urls, 1000):
            for product in await self.session.scalars(
                select(Product).where(
                    Product.supplier_id == self.supplier_id, Product.source_url.in_(chunk)
                )
            ):
                assert product.source_url is not None
                self.existing[product.source_url] = product
        ids = [p.id for p in self.existing.values()]
        for chunk in _chunks(ids, 1000):
            rows = await self.session.execute(
                select(ProductImage.product_id, ProductImage.url)
                .where(ProductImage.product_id.in_(chunk))
                .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
            )
            for product_id, url in rows:
                self.images.setdefault(product_id, []).append(url)

    async def apply(self, scraped: ScrapedProduct) -> str:
        """Create or update the product; 'created', 'updated' or 'unchanged'."""
        plaintext = html_to_text(scraped.description)
        fields = {
            "title": scraped.title,
            "description": scraped.description or None,
            "plaintext": plaintext or None,
            "summary": _summary(plaintext),
            "sku": scraped.sku,
            "available": scraped.available,
        }
        product = self.existing.get(scraped.url)
        if product is None:
            product = Product(
                slug=await self._free_slug(scraped.title),
                supplier_id=self.supplier_id,
                price_minor=scraped.price_minor,
                currency=scraped.currency,
                source_url=scraped.url,
                last_imported_at=self.now,
                **fields,
            )
            self.session.add(product)
            await self.session.flush()
            self._set_images(product.id, scraped)
            self.session.add(
                PriceChange(
                    product_id=product.id,
                    old_price_minor=None,
                    new_price_minor=scraped.price_minor,
                    currency=scraped.currency,
                    source="scrape",
                )
            )
            self.ids[scraped.url] = product.id
            return "created"
        self.ids[scraped.url] = product.id
        changed: dict[str, Any] = {k: v for k, v in fields.items() if getattr(product, k) != v}
        if (product.price_minor, product.currency) != (scraped.price_minor, scraped.currency):
            self.session.add(
                PriceChange(
                    product_id=product.id,
                    old_price_minor=product.price_minor,
                    new_price_minor=scraped.price_minor,
                    currency=scraped.currency,
                    source="scrape",
                )
            )
            changed.update(price_minor=scraped.price_minor, currency=scraped.currency)
        images_changed = self.images.get(product.id, []) != list(scraped.images)
        if not changed and not images_changed:
            self.unchanged.append(product.id)
            return "unchanged"
        for key, value in changed.items():
            setattr(product, key, value)
        product.last_imported_at = self.now
        if images_changed:
            await self.session.execute(
                delete(ProductImage).where(ProductImage.product_id == product.id)
            )
            self._set_images(product.id, scraped)
        await self.session.flush()
        return "updated"

    def _set_images(self, product_id: int, scraped: ScrapedProduct) -> None:
        for position, url in enumerate(scraped.images):
            self.session.add(
                ProductImage(
                    product_id=product_id, url=url, alt=scraped.title[:300], position=position
                )
            )

    async def _free_slug(self, title: str) -> str:
        base = (slugify(title) or "product")[:170].rstrip("-")
        taken = set(
            await self.session.scalars(
                select(Product.slug).where(
                    or_(Product.slug == base, Product.slug.like(f"{base}-%"))
                )
            )
        )
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    async def mark_unavailable(self, product_ids: Iterable[int]) -> int:
        """Withdraw products the source no longer offers; how many were available."""
        ids = sorted(set(product_ids))
        if not ids:
            return 0
        result = await self.session.execute(
            update(Product)
            .where(
                Product.id.in_(ids),
                Product.supplier_id == self.supplier_id,
                Product.available.is_(True),
            )
            .values(available=False, last_imported_at=self.now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def stamp_unchanged(self) -> None:
        """Unchanged products were seen now; their updated_at stays (nothing changed)."""
        for chunk in _chunks(self.unchanged, 1000):
            await self.session.execute(
                update(Product)
                .where(Product.id.in_(chunk))
                .values(last_imported_at=self.now, updated_at=Product.updated_at)
            )


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _validated(data: ScrapeSourceInput) -> dict[str, Any]:
    checks = FieldErrors()  # every field checked before any is reported
    url = data.start_url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        checks.note(
            InvalidScrapeSource(
                "invalid_start_url", "The start URL must be an http(s) address.", "start_url"
            )
        )
    elif parts.username or parts.password:
        checks.note(
            InvalidScrapeSource(
                "invalid_start_url", "The start URL must not carry a user name.", "start_url"
            )
        )
    if data.kind not in ("page", "sitemap"):
        checks.note(
            InvalidScrapeSource("invalid_kind", "Choose a catalogue page or a sitemap.", "kind")
        )
    if not 1 <= data.interval_hours <= MAX_INTERVAL_HOURS:
        checks.note(
            InvalidScrapeSource(
                "invalid_interval",
                f"Run every 1 to {MAX_INTERVAL_HOURS} hours.",
                "interval_hours",
            )
        )
    settings: dict[str, Any] = {}
    if data.max_pages is not None:
        if not 1 <= data.max_pages <= 100_000:
            checks.note(
                InvalidScrapeSource(
                    "invalid_max_pages", "The page limit must be a positive number.", "max_pages"
                )
            )
        settings["max_pages"] = data.max_pages
    if data.currency:
        currency = data.currency.strip().upper()
        if not CURRENCY_RE.match(currency):
            checks.note(
                InvalidScrapeSource(
                    "invalid_currency", "The currency is a three-letter code (GBP).", "currency"
                )
            )
        settings["currency"] = currency
    checks.raise_if_any()
    return {
        "start_url": url,
        "kind": data.kind,
        "interval_hours": data.interval_hours,
        "settings": settings,
        "enabled": data.enabled,
    }


def _int_setting(settings: dict[str, Any], key: str) -> int | None:
    value = settings.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _source_dto(source: ScrapeSource, slug: str, name: str, requested: bool) -> ScrapeSourceDTO:
    settings = source.settings or {}
    currency = settings.get("currency")
    return ScrapeSourceDTO(
        id=source.id,
        supplier_id=source.supplier_id,
        supplier_slug=slug,
        supplier_name=name,
        start_url=source.start_url,
        kind=source.kind,
        enabled=source.enabled,
        interval_hours=source.interval_hours,
        max_pages=_int_setting(settings, "max_pages"),
        currency=currency if isinstance(currency, str) else None,
        delay_s=_int_setting(settings, "delay_s"),
        last_run_at=source.last_run_at,
        run_requested=requested,
    )


def _run_dto(run: ScrapeRun) -> ScrapeRunDTO:
    return ScrapeRunDTO(
        id=run.id,
        source_id=run.source_id,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        pages_fetched=run.pages_fetched or 0,
        created=run.created or 0,
        updated=run.updated or 0,
        unchanged=run.unchanged or 0,
        unavailable=run.unavailable or 0,
        errors=tuple(
            ScrapeErrorDTO(url=str(e.get("url", "")), error=str(e.get("error", "")))
            for e in (run.errors or [])
            if isinstance(e, dict)
        ),
    )
