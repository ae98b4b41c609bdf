"""Small factories for the catalogue, going through the real CatalogService, and the staff
desk's forms as the tests read them."""

from __future__ import annotations

from itertools import count

from quart.typing import TestClientProtocol as Client
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
from tests.support import BROWSER_ACCEPT, csrf_in

_seq = count(1)
BROWSER = {"Accept": BROWSER_ACCEPT}


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


async def token_of(client: Client, path: str = "/editor/products/new") -> str:
    """The CSRF token of the staff desk's form at ``path``, as ``client`` sees it."""
    resp = await client.get(path, headers=BROWSER)
    assert resp.status_code == 200, path
    return csrf_in(await resp.get_data(as_text=True))
