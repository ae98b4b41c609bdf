"""Products as the cart sells them, and their stock (the catalogue's SellableProvider side).

Stock only changes here (and in the CSV import, through the same lock), and only under
:func:`shared.infrastructure.locking.lock_objects` (key ``("product", id)``):
:meth:`SellableSide.reserve` checks the locks are held, reads the counts and writes them in
the caller's transaction, all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import FulfilmentLine, LockKey, Money, SellableDTO
from shared.contracts.errors import SoldOut, Unavailable
from shared.errors import DomainError, NotFound
from shared.infrastructure.locking import lock_objects, require_locked
from shared.models import Product, ProductImage

KIND = "product"
MAX_STOCK = 1_000_000


def product_lock_key(product_id: int) -> LockKey:
    return (KIND, product_id)


async def set_stock(session: AsyncSession, product_id: int, stock: int | None) -> None:
    """Set a product's stock count (None: unlimited), under the product's lock."""
    if stock is not None and stock < 0:
        raise DomainError("invalid_stock", "Stock cannot be negative.")
    await lock_objects(session, [product_lock_key(product_id)])
    result = await session.execute(
        update(Product).where(Product.id == product_id).values(stock=stock)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound("product_not_found", "No such product.")


class SellableSide:
    """What the cart sells: :class:`shared.contracts.SellableProvider` for kind
    ``"product"``, and staff's stock counts."""

    # The market's address as buyers see it: cart lines link back to the product there.
    public_url: str

    async def sellables(self, session: AsyncSession, ids: Iterable[int]) -> dict[int, SellableDTO]:
        """The current price, availability and stock of each known product id."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        first_image = (
            select(ProductImage.url)
            .where(ProductImage.product_id == Product.id)
            .order_by(ProductImage.position, ProductImage.id)
            .limit(1)
            .scalar_subquery()
        )
        rows = await session.execute(
            select(
                Product.id,
                Product.slug,
                Product.title,
                Product.price_minor,
                Product.currency,
                Product.available,
                Product.stock,
                Product.unit,
                first_image,
            ).where(Product.id.in_(wanted))
        )
        return {
            row.id: SellableDTO(
                kind=KIND,
                id=row.id,
                title=row.title,
                price=Money(row.price_minor, row.currency),
                available=row.available and (row.stock is None or row.stock > 0),
                stock=row.stock,
                url=f"{self.public_url}/products/{row.slug}",
                image_url=row[8],
                unit=row.unit,
            )
            for row in rows
        }

    async def lock_keys(self, session: AsyncSession, ids: Iterable[int]) -> list[LockKey]:
        """One key per product: its stock count."""
        return [product_lock_key(i) for i in sorted(set(ids))]

    async def reserve(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Take ``quantities`` from the products' stock, all or nothing (locks must be held)."""
        wanted = _positive(quantities)
        require_locked(session, [product_lock_key(i) for i in wanted])
        # Read fresh from the database, not from the session's identity map.
        rows = {
            row.id: row
            for row in await session.execute(
                select(Product.id, Product.available, Product.stock)
                .where(Product.id.in_(list(wanted)))
                .execution_options(populate_existing=True)
            )
        }
        missing = sorted(i for i in wanted if i not in rows or not rows[i].available)
        if missing:
            raise Unavailable(KIND, missing)
        short = {
            i: rows[i].stock
            for i, quantity in wanted.items()
            if rows[i].stock is not None and rows[i].stock < quantity
        }
        if short:
            raise SoldOut(KIND, short)
        for product_id, quantity in sorted(wanted.items()):
            if rows[product_id].stock is not None:
                await session.execute(
                    update(Product)
                    .where(Product.id == product_id)
                    .values(stock=Product.stock - quantity)
                )

    async def release(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Give back what :meth:`reserve` took (unlimited products have nothing to give back)."""
        for product_id, quantity in sorted(_positive(quantities).items()):
            # An increment cannot oversell, so it needs no lock: the UPDATE is atomic.
            await session.execute(
                update(Product)
                .where(Product.id == product_id, Product.stock.is_not(None))
                .values(stock=Product.stock + quantity)
            )

    async def fulfil(self, session: AsyncSession, lines: Sequence[FulfilmentLine]) -> None:
        """Nothing to issue for goods: collection or delivery is the order's, not the product's."""

    async def set_stock(self, session: AsyncSession, product_id: int, stock: int | None) -> None:
        """Set a product's stock count (None: unlimited), under the product's lock."""
        await set_stock(session, product_id, stock)


def _positive(quantities: Mapping[int, int]) -> dict[int, int]:
    for item_id, quantity in quantities.items():
        if quantity <= 0:
            raise DomainError("invalid_quantity", f"Quantity for {item_id} must be positive.")
    return dict(quantities)
