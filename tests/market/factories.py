"""Small factories for the catalogue, going through the real CatalogService."""

from __future__ import annotations

from itertools import count

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CategoryDTO,
    CategoryInput,
    ProductDTO,
    ProductImageDTO,
    ProductInput,
    SupplierDTO,
    SupplierInput,
)
from shared.infrastructure.context import services

_seq = count(1)


async def supplier(db: AsyncSession, name: str = "", **fields: object) -> SupplierDTO:
    n = next(_seq)
    return await services().catalog.create_supplier(
        db,
        SupplierInput(name=name or f"Supplier {n}", **fields),  # type: ignore[arg-type]
    )


async def category(
    db: AsyncSession, name: str = "", parent: CategoryDTO | None = None, **fields: object
) -> CategoryDTO:
    n = next(_seq)
    return await services().catalog.create_category(
        db,
        CategoryInput(
            name=name or f"Category {n}",
            parent_id=parent.id if parent else None,
            **fields,  # type: ignore[arg-type]
        ),
    )


async def product(
    db: AsyncSession, title: str = "", price_minor: int = 350, **fields: object
) -> ProductDTO:
    n = next(_seq)
    fields.setdefault("images", (ProductImageDTO("/static/img/market/loaf.svg", "A loaf"),))
    return await services().catalog.create_product(
        db,
        ProductInput(title=title or f"Product number {n}", price_minor=price_minor, **fields),  # type: ignore[arg-type]
    )
