"""How the catalogue reads products: the queries and DTO builders every part of it shares.

A few products (the home page's, one product, staff's list) are one query for the products
(with their supplier joined) and one each for their images and categories (:func:`hydrate`),
whatever their number; the public listings are one statement a page
(:mod:`~shared.services.market.paging`). The category tree and the suppliers are small and
read whole (:func:`load_categories`, :func:`load_suppliers`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CategoryDTO,
    Money,
    ProductDTO,
    ProductImageDTO,
    ProductPage,
    SupplierDTO,
)
from shared.errors import DomainError, NotFound
from shared.models import Category, Product, ProductCategory, ProductImage, Supplier

MAX_QUERY_CHARS = 200
MAX_PER_PAGE = 100
ORDER: dict[str, tuple[Any, ...]] = {
    "newest": (Product.created_at.desc(), Product.id.desc()),
    "price-asc": (Product.price_minor.asc(), Product.id.asc()),
    "price-desc": (Product.price_minor.desc(), Product.id.desc()),
    "name": (func.lower(Product.title).asc(), Product.id.asc()),
}


def listing_select(*extra: Any) -> Any:
    """Products with their supplier joined (one row each); ``extra`` columns after them."""
    return select(Product, Supplier, *extra).outerjoin(Supplier, Supplier.id == Product.supplier_id)


def on_sale() -> list[ColumnElement[bool]]:
    return [Product.available.is_(True)]


def check_paging(page: int, per_page: int) -> None:
    if page < 1:
        raise NotFound("page_out_of_range", "There is no such page.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise DomainError("per_page_out_of_range", f"per_page must be 1 to {MAX_PER_PAGE}.")


async def load_categories(session: AsyncSession) -> dict[int, CategoryDTO]:
    """Every category by id (without children: see :func:`tree`)."""
    rows = await session.scalars(select(Category).order_by(Category.position, Category.name))
    return {r.id: category_dto(r) for r in rows}


async def load_suppliers(session: AsyncSession) -> dict[int, SupplierDTO]:
    """Every supplier by id, in order of name."""
    rows = await session.scalars(select(Supplier).order_by(func.lower(Supplier.name)))
    return {r.id: supplier_dto(r) for r in rows}


async def hydrate(session: AsyncSession, rows: Sequence[Any]) -> list[ProductDTO]:
    """DTOs for rows of :func:`listing_select`: one query for all their images, one for
    all their categories (never one per product)."""
    ids = [row.Product.id for row in rows]
    if not ids:
        return []
    images: dict[int, list[ProductImageDTO]] = {}
    for image in await session.scalars(
        select(ProductImage)
        .where(ProductImage.product_id.in_(ids))
        .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
    ):
        images.setdefault(image.product_id, []).append(ProductImageDTO(image.url, image.alt))
    categories: dict[int, list[CategoryDTO]] = {}
    for product_id, category in await session.execute(
        select(ProductCategory.product_id, Category)
        .join(Category, Category.id == ProductCategory.category_id)
        .where(ProductCategory.product_id.in_(ids))
        .order_by(Category.position, Category.name)
    ):
        categories.setdefault(product_id, []).append(category_dto(category))
    return [
        product_dto(
            row.Product,
            supplier_dto(row.Supplier) if row.Supplier is not None else None,
            tuple(categories.get(row.Product.id, ())),
            tuple(images.get(row.Product.id, ())),
        )
        for row in rows
    ]


async def one_product(session: AsyncSession, condition: ColumnElement[bool]) -> ProductDTO:
    """The product ``condition`` selects (also when unavailable)."""
    rows = (await session.execute(listing_select().where(condition))).all()
    if not rows:
        raise NotFound("product_not_found", "There is no such product.")
    return (await hydrate(session, rows))[0]


async def page_of(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    sort: str,
    page: int,
    per_page: int,
) -> ProductPage:
    """One page of the products matching ``conditions``, sorted by an :data:`ORDER` key."""
    check_paging(page, per_page)
    total = int(
        await session.scalar(select(func.count()).select_from(Product).where(*conditions)) or 0
    )
    if page > 1 and (page - 1) * per_page >= total:
        raise NotFound("page_out_of_range", "There is no such page.")
    rows = await session.execute(
        listing_select()
        .where(*conditions)
        .order_by(*ORDER[sort])
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    products = await hydrate(session, rows.all())
    return ProductPage(products=tuple(products), page=page, per_page=per_page, total=total)


def subtree(categories: Mapping[int, CategoryDTO], root: int) -> set[int]:
    """``root`` and every category below it."""
    below: dict[int | None, list[int]] = {}
    for c in categories.values():
        below.setdefault(c.parent_id, []).append(c.id)
    found, todo = set(), [root]
    while todo:
        node = todo.pop()
        if node not in found:
            found.add(node)
            todo.extend(below.get(node, ()))
    return found


def tree(categories: Mapping[int, CategoryDTO]) -> tuple[CategoryDTO, ...]:
    """The categories as a tree, each level by position then name."""
    below: dict[int | None, list[CategoryDTO]] = {}
    for c in categories.values():
        parent = c.parent_id if c.parent_id in categories else None
        below.setdefault(parent, []).append(c)

    def build(parent: int | None, seen: frozenset[int]) -> tuple[CategoryDTO, ...]:
        level = sorted(below.get(parent, ()), key=lambda c: (c.position, c.name.lower()))
        return tuple(
            replace(c, children=build(c.id, seen | {c.id})) for c in level if c.id not in seen
        )

    return build(None, frozenset())


def supplier_dto(row: Supplier) -> SupplierDTO:
    return SupplierDTO(row.id, row.slug, row.name, row.website, row.description, row.logo_url)


def category_dto(row: Category) -> CategoryDTO:
    return CategoryDTO(row.id, row.slug, row.name, row.description, row.parent_id, row.position)


def product_dto(
    row: Any,
    supplier: SupplierDTO | None,
    categories: tuple[CategoryDTO, ...],
    images: tuple[ProductImageDTO, ...],
) -> ProductDTO:
    """A product's DTO from a :class:`Product` or a row with its columns."""
    return ProductDTO(
        id=row.id,
        slug=row.slug,
        title=row.title,
        summary=row.summary,
        description=row.description,
        price=Money(row.price_minor, row.currency),
        unit=row.unit,
        stock=row.stock,
        available=row.available,
        featured=row.featured,
        supplier=supplier,
        categories=categories,
        images=images,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sku=row.sku,
        source_url=row.source_url,
        last_imported_at=row.last_imported_at,
    )
