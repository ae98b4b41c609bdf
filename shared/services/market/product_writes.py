"""A product's fields checked and stored: shared by staff's product form and the CSV import.

:func:`check_product` reports every problem at once and touches nothing;
:func:`write_product` stores what it accepted, keeps the price history and leaves an
existing product's stock to the caller (who changes it under the product's lock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import MAX_PRICE_MINOR, ProductImageDTO, ProductInput
from shared.contracts.errors import InvalidCatalogInput
from shared.errors import NotFound
from shared.infrastructure.sanitize import clean_text, html_to_text
from shared.models import Category, PriceChange, Product, ProductCategory, ProductImage, Supplier
from shared.services.market.editing import check_html, check_url, unique_slug
from shared.services.market.stock import MAX_STOCK

MAX_IMAGES = 12
MAX_PRODUCT_CATEGORIES = 20


@dataclass(frozen=True)
class CheckedProduct:
    """A product's fields after :func:`check_product`: ready to store."""

    slug: str
    title: str
    summary: str | None
    description: str | None
    plaintext: str | None
    sku: str | None
    supplier_id: int | None
    price_minor: int
    currency: str
    unit: str
    stock: int | None
    available: bool
    featured: bool
    category_ids: tuple[int, ...]
    images: tuple[ProductImageDTO, ...]


async def product_row(session: AsyncSession, product_id: int) -> Product:
    row = await session.get(Product, product_id)
    if row is None:
        raise NotFound("product_not_found", "There is no such product.")
    return row


async def check_product(
    session: AsyncSession, row: Product | None, data: ProductInput
) -> CheckedProduct:
    """Every field checked, every problem reported at once."""
    errors: dict[str, str] = {}
    title = clean_text(data.title)
    if not title:
        errors["title"] = "Give the product a title."
    elif len(title) > 300:
        errors["title"] = "At most 300 characters."
    summary = clean_text(data.summary)
    if len(summary) > 500:
        errors["summary"] = "At most 500 characters."
    sku = clean_text(data.sku)
    if len(sku) > 100:
        errors["sku"] = "At most 100 characters."
    description = check_html(data.description, "description", errors)
    if not isinstance(data.price_minor, int) or not 0 <= data.price_minor <= MAX_PRICE_MINOR:
        errors["price"] = "A price from 0 to 1,000,000.00."
    currency = data.currency.strip().upper()
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        errors["currency"] = "A three-letter currency code such as GBP."
    unit = clean_text(data.unit) or "each"
    if len(unit) > 32:
        errors["unit"] = "At most 32 characters (each, kg, 500 g ...)."
    if data.stock is not None and not 0 <= data.stock <= MAX_STOCK:
        errors["stock"] = f"A count from 0 to {MAX_STOCK:,}, or empty for unlimited."
    supplier_id = None
    if data.supplier.strip():
        supplier_id = await session.scalar(
            select(Supplier.id).where(Supplier.slug == data.supplier.strip().lower())
        )
        if supplier_id is None:
            errors["supplier"] = f"There is no supplier {data.supplier.strip()!r}."
    wanted = list(dict.fromkeys(c.strip().lower() for c in data.categories if c.strip()))
    category_ids: list[int] = []
    if wanted:
        if len(wanted) > MAX_PRODUCT_CATEGORIES:
            errors["categories"] = f"At most {MAX_PRODUCT_CATEGORIES} categories."
        found = dict(
            (
                await session.execute(
                    select(Category.slug, Category.id).where(Category.slug.in_(wanted))
                )
            ).all()
        )
        missing = [c for c in wanted if c not in found]
        if missing:
            errors["categories"] = "No such category: " + ", ".join(missing) + "."
        category_ids = [found[c] for c in wanted if c in found]
    images: list[ProductImageDTO] = []
    if len(data.images) > MAX_IMAGES:
        errors["images"] = f"At most {MAX_IMAGES} images."
    for image in data.images[:MAX_IMAGES]:
        url = check_url(image.url, "images", errors)
        alt = clean_text(image.alt)[:300]
        if url:
            images.append(ProductImageDTO(url, alt))
    slug = await unique_slug(
        session, Product, data.slug, title, row.id if row is not None else None, errors
    )
    if errors:
        raise InvalidCatalogInput(errors)
    return CheckedProduct(
        slug=slug,
        title=title,
        summary=summary or None,
        description=description or None,
        plaintext=html_to_text(description) if description else None,
        sku=sku or None,
        supplier_id=supplier_id,
        price_minor=data.price_minor,
        currency=currency,
        unit=unit,
        stock=data.stock,
        available=data.available,
        featured=data.featured,
        category_ids=tuple(category_ids),
        images=tuple(images),
    )


async def write_product(
    session: AsyncSession,
    row: Product | None,
    checked: CheckedProduct,
    *,
    source: str,
) -> Product:
    """Store a checked product; an existing product's stock is left to the caller, who
    changes it under its lock."""
    old_price = None if row is None else (row.price_minor, row.currency)
    if row is None:
        row = Product(slug=checked.slug, title=checked.title, price_minor=0, stock=checked.stock)
        session.add(row)
    row.slug, row.title, row.summary = checked.slug, checked.title, checked.summary
    row.description, row.plaintext, row.sku = (
        checked.description,
        checked.plaintext,
        checked.sku,
    )
    row.supplier_id, row.unit = checked.supplier_id, checked.unit
    row.price_minor, row.currency = checked.price_minor, checked.currency
    row.available, row.featured = checked.available, checked.featured
    await session.flush()
    if old_price != (checked.price_minor, checked.currency):
        session.add(
            PriceChange(
                product_id=row.id,
                old_price_minor=old_price[0] if old_price else None,
                new_price_minor=checked.price_minor,
                currency=checked.currency,
                source=source,
            )
        )
    await session.execute(delete(ProductCategory).where(ProductCategory.product_id == row.id))
    session.add_all(ProductCategory(product_id=row.id, category_id=c) for c in checked.category_ids)
    await session.execute(delete(ProductImage).where(ProductImage.product_id == row.id))
    session.add_all(
        ProductImage(product_id=row.id, url=i.url, alt=i.alt, position=n)
        for n, i in enumerate(checked.images)
    )
    await session.flush()
    return row
