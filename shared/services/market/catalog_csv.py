"""Products as CSV for staff's bulk edits: export every product, import rows back.

The columns are :data:`COLUMNS` (``title`` and ``price`` must be there; any subset of the
others may be). A row whose ``slug`` names an existing product updates it (columns the file
leaves out keep their values); any other row creates a product. Prices are written like
``4.50`` (never through a float), ``stock`` empty means unlimited, ``available`` and
``featured`` are yes/no, ``categories`` are slugs separated by spaces, ``images`` one per line
in the cell: the URL, then a space and the alt text.

The import is all or nothing: every row is checked first, and one bad row refuses the whole
file with every problem by line number (:class:`~shared.contracts.errors.CsvImportRefused`),
before anything is written. Python's ``csv`` module reads it; size, row count and cell
length are bounded before any work is done.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CsvImportReport,
    CsvRowError,
    ProductDTO,
    ProductImageDTO,
    ProductInput,
    parse_amount_minor,
)
from shared.contracts.errors import CsvImportRefused, InvalidCatalogInput
from shared.infrastructure.csvfile import read_cell, write_csv
from shared.infrastructure.locking import lock_objects
from shared.models import Product
from shared.services.market.editing import record_audit
from shared.services.market.product_writes import CheckedProduct, check_product, write_product
from shared.services.market.queries import hydrate, listing_select
from shared.services.market.stock import MAX_STOCK, product_lock_key

COLUMNS = (
    "slug",
    "title",
    "summary",
    "description",
    "sku",
    "supplier",
    "categories",
    "price",
    "currency",
    "unit",
    "stock",
    "available",
    "featured",
    "images",
)
REQUIRED = ("title", "price")
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5_000
MAX_CELL_CHARS = 100_000
# Enough for staff to fix a file; a file with more bad rows than this is the wrong file.
MAX_REPORTED = 200
_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"no", "n", "false", "0"}
_SPLIT = re.compile(r"[\s,]+")


def write(products: list[ProductDTO]) -> str:
    """The products as CSV text, header first (cells escaped against formulas)."""
    return write_csv(
        COLUMNS,
        (
            [
                p.slug,
                p.title,
                p.summary or "",
                p.description or "",
                p.sku or "",
                p.supplier.slug if p.supplier else "",
                " ".join(c.slug for c in p.categories),
                p.price.decimal_str(),
                p.price.currency,
                p.unit,
                "" if p.stock is None else str(p.stock),
                "yes" if p.available else "no",
                "yes" if p.featured else "no",
                "\n".join(f"{i.url} {i.alt}".strip() for i in p.images),
            ]
            for p in products
        ),
    )


def _parse_bool(value: str, column: str, problems: list[str]) -> bool | None:
    text = value.strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    problems.append(f"{column} {value[:40]!r} is not yes or no")
    return None


def _images(value: str) -> tuple[ProductImageDTO, ...]:
    images = []
    for line in value.splitlines():
        url, _, alt = line.strip().partition(" ")
        if url:
            images.append(ProductImageDTO(url, alt.strip()))
    return tuple(images)


async def import_rows(
    session: AsyncSession, text: str, actor_user_id: int | None
) -> CsvImportReport:
    """See the module's docstring; raises CsvImportRefused and writes nothing on any error."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise CsvImportRefused(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it."
        )
    if "\x00" in text:
        raise CsvImportRefused("This is not a CSV file (it contains NUL bytes).")
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvImportRefused("The file is empty: the first line must name the columns.") from None
    except csv.Error as err:
        raise CsvImportRefused(f"Line 1: {err}.") from None
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise CsvImportRefused(
            f"Line 1: unknown column(s) {', '.join(repr(c[:40]) for c in unknown[:5])}; "
            f"the columns are {', '.join(COLUMNS)}."
        )
    doubled = sorted({c for c in columns if columns.count(c) > 1})
    if doubled:
        raise CsvImportRefused(f"Line 1: the column(s) {', '.join(doubled)} appear twice.")
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CsvImportRefused(f"Line 1: the column(s) {', '.join(missing)} are required.")

    errors: list[CsvRowError] = []
    rows: list[tuple[int, dict[str, str]]] = []
    previous_end = reader.line_num
    try:
        for raw in reader:
            line = previous_end + 1
            previous_end = reader.line_num
            if not any(c.strip() for c in raw):
                continue
            if len(rows) >= MAX_ROWS:
                raise CsvImportRefused(f"More than {MAX_ROWS} products: split the file.")
            if len(raw) != len(columns):
                errors.append(
                    CsvRowError(line, f"{len(raw)} cells where the header has {len(columns)}.")
                )
                continue
            if any(len(c) > MAX_CELL_CHARS for c in raw):
                errors.append(
                    CsvRowError(line, f"a cell is longer than {MAX_CELL_CHARS:,} characters.")
                )
                continue
            rows.append((line, dict(zip(columns, map(read_cell, raw), strict=True))))
    except csv.Error as err:
        errors.append(CsvRowError(previous_end + 1, f"unreadable CSV ({err})."))
    if not rows and not errors:
        raise CsvImportRefused("The file has a header but no products.")

    slugs = [r["slug"].strip().lower() for _, r in rows if r.get("slug", "").strip()]
    existing_rows = (
        (await session.execute(listing_select().where(Product.slug.in_(slugs)))).all()
        if slugs
        else []
    )
    existing: dict[str, tuple[Product, ProductDTO]] = {}
    hydrated = await hydrate(session, existing_rows)
    for found, dto in zip(existing_rows, hydrated, strict=True):
        existing[dto.slug] = (found.Product, dto)

    checked: list[tuple[int, Product | None, ProductDTO | None, CheckedProduct]] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        problems: list[str] = []
        slug = cells.get("slug", "").strip().lower()
        current = existing.get(slug)
        previous = current[1] if current else None
        base = _input_of(previous) if previous else ProductInput(title="", price_minor=0)
        changes: dict[str, Any] = {"slug": slug}
        for column in ("title", "summary", "description", "sku", "supplier", "currency", "unit"):
            if column in cells:
                changes[column] = (
                    cells[column].strip() if column != "description" else cells[column]
                )
        try:
            changes["price_minor"] = parse_amount_minor(cells["price"])
        except ValueError:
            problems.append(f"price {cells['price'][:40]!r} is not an amount like 4.50")
        if "stock" in cells:
            stock = cells["stock"].strip()
            if not stock:
                changes["stock"] = None
            elif stock.isascii() and stock.isdigit() and int(stock) <= MAX_STOCK:
                changes["stock"] = int(stock)
            else:
                problems.append(
                    f"stock {stock[:40]!r} is not a count from 0 to {MAX_STOCK:,}"
                    " (empty: unlimited)"
                )
        for column in ("available", "featured"):
            if column in cells:
                flag = _parse_bool(cells[column], column, problems)
                if flag is not None:
                    changes[column] = flag
        if "categories" in cells:
            changes["categories"] = tuple(c for c in _SPLIT.split(cells["categories"]) if c)
        if "images" in cells:
            changes["images"] = _images(cells["images"])
        data = replace(base, **changes)
        if not problems:
            try:
                result = await check_product(session, current[0] if current else None, data)
            except InvalidCatalogInput as err:
                problems.extend(f"{field}: {message}" for field, message in err.errors.items())
            else:
                if result.slug in seen:
                    problems.append(
                        f"the slug {result.slug!r} is already used by line {seen[result.slug]}"
                    )
                else:
                    seen[result.slug] = line
                    checked.append((line, current[0] if current else None, previous, result))
        if problems:
            errors.append(CsvRowError(line, "; ".join(problems) + "."))
    if errors:
        errors.sort(key=lambda e: e.line)
        raise CsvImportRefused(
            f"{len(errors)} line(s) refused: nothing was imported.", tuple(errors[:MAX_REPORTED])
        )

    created = updated = unchanged = 0
    new_stock: dict[int, int | None] = {}
    for _line, row, before, result in checked:
        if row is not None and before is not None and _same(before, result):
            unchanged += 1
            continue
        written = await write_product(session, row, result, source="csv")
        if row is None:
            created += 1
        else:
            updated += 1
            if before is not None and before.stock != result.stock:
                new_stock[written.id] = result.stock
        record_audit(
            session,
            "market.product.created" if row is None else "market.product.updated",
            "market_product",
            written.id,
            actor_user_id,
            before,
            {
                "slug": result.slug,
                "title": result.title,
                "price_minor": result.price_minor,
                "currency": result.currency,
                "stock": result.stock,
                "source": "csv",
            },
        )
    if new_stock:
        # Every stock count this file changes, under the one lock helper, locked at once.
        await lock_objects(session, [product_lock_key(i) for i in new_stock])
        for product_id, count in sorted(new_stock.items()):
            await session.execute(
                update(Product).where(Product.id == product_id).values(stock=count)
            )
    await session.flush()
    return CsvImportReport(created=created, updated=updated, unchanged=unchanged)


def _input_of(p: ProductDTO) -> ProductInput:
    return ProductInput(
        title=p.title,
        price_minor=p.price.amount_minor,
        slug=p.slug,
        summary=p.summary or "",
        description=p.description or "",
        sku=p.sku or "",
        supplier=p.supplier.slug if p.supplier else "",
        categories=tuple(c.slug for c in p.categories),
        currency=p.price.currency,
        unit=p.unit,
        stock=p.stock,
        available=p.available,
        featured=p.featured,
        images=p.images,
    )


def _same(before: ProductDTO, after: CheckedProduct) -> bool:
    return bool(
        before.slug == after.slug
        and before.title == after.title
        and before.summary == after.summary
        and (before.description or None) == after.description
        and before.sku == after.sku
        and (before.supplier.id if before.supplier else None) == after.supplier_id
        and tuple(c.id for c in before.categories) == after.category_ids
        and before.price.amount_minor == after.price_minor
        and before.price.currency == after.currency
        and before.unit == after.unit
        and before.stock == after.stock
        and before.available == after.available
        and before.featured == after.featured
        and before.images == after.images
    )
