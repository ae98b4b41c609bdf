"""Stock under the one lock helper: real concurrent transactions try to oversell.

Each racer has its own connection to a committed database (``scratch_database_url``), so the
advisory locks and the counts are contended exactly as by concurrent checkouts.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shared.contracts import Money
from shared.contracts.errors import SoldOut, Unavailable
from shared.errors import DomainError
from shared.infrastructure.locking import LockingError, lock_objects
from shared.models import Product, ProductImage
from shared.services.market.catalog import SqlCatalogService

catalog = SqlCatalogService("https://market.example")


@pytest.fixture(scope="module")
async def sessions(scratch_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(scratch_database_url, pool_size=20, max_overflow=0)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def new_product(
    sessions: async_sessionmaker[AsyncSession], stock: int | None, **fields: object
) -> int:
    async with sessions.begin() as session:
        product = Product(
            slug=f"p-{secrets.token_hex(4)}",
            title=str(fields.pop("title", "Sourdough loaf")),
            price_minor=int(fields.pop("price_minor", 450)),  # type: ignore[call-overload]
            stock=stock,
            **fields,
        )
        session.add(product)
        await session.flush()
        return product.id


async def stock_of(sessions: async_sessionmaker[AsyncSession], product_id: int) -> int | None:
    async with sessions() as session:
        return await session.scalar(select(Product.stock).where(Product.id == product_id))


async def checkout(sessions: async_sessionmaker[AsyncSession], quantities: dict[int, int]) -> bool:
    """What a checkout does: lock every line's keys at once, then reserve, then commit."""
    async with sessions.begin() as session:
        await lock_objects(session, await catalog.lock_keys(session, quantities))
        try:
            await catalog.reserve(session, quantities)
        except SoldOut:
            return False
        # Hold the lock a moment, as a checkout writing its order would.
        await asyncio.sleep(0.005)
        return True


async def test_fifty_concurrent_checkouts_for_ten_in_stock_take_exactly_ten(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    product = await new_product(sessions, stock=10)
    results = await asyncio.gather(*(checkout(sessions, {product: 1}) for _ in range(50)))
    assert results.count(True) == 10
    assert await stock_of(sessions, product) == 0


async def test_opposite_orders_of_two_products_never_deadlock(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    a = await new_product(sessions, stock=30)
    b = await new_product(sessions, stock=30)
    # Half the racers list b first: the helper's fixed order makes that irrelevant.
    racers = [checkout(sessions, {a: 1, b: 1} if i % 2 else {b: 1, a: 1}) for i in range(40)]
    results = await asyncio.wait_for(asyncio.gather(*racers), timeout=60)
    assert results.count(True) == 30
    assert await stock_of(sessions, a) == 0
    assert await stock_of(sessions, b) == 0


async def test_a_short_line_reserves_nothing_at_all(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    plenty = await new_product(sessions, stock=5)
    scarce = await new_product(sessions, stock=1)
    unlimited = await new_product(sessions, stock=None)
    async with sessions.begin() as session:
        wanted = {plenty: 2, scarce: 3, unlimited: 4}
        await lock_objects(session, await catalog.lock_keys(session, wanted))
        with pytest.raises(SoldOut) as refused:
            await catalog.reserve(session, wanted)
    assert refused.value.left == {scarce: 1}
    assert refused.value.code == "sold_out"
    assert await stock_of(sessions, plenty) == 5
    assert await stock_of(sessions, scarce) == 1


async def test_unavailable_and_unknown_products_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    withdrawn = await new_product(sessions, stock=5, available=False)
    fine = await new_product(sessions, stock=5)
    async with sessions.begin() as session:
        wanted = {withdrawn: 1, fine: 1, 987654321: 1}
        await lock_objects(session, await catalog.lock_keys(session, wanted))
        with pytest.raises(Unavailable) as refused:
            await catalog.reserve(session, wanted)
    assert refused.value.ids == [withdrawn, 987654321]
    assert await stock_of(sessions, fine) == 5


async def test_reserving_without_the_lock_or_locking_twice_is_a_programming_error(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    product = await new_product(sessions, stock=5)
    async with sessions() as session:
        with pytest.raises(LockingError, match="without lock_objects"):
            await catalog.reserve(session, {product: 1})
        await session.rollback()
        await lock_objects(session, [("product", product)])
        with pytest.raises(LockingError, match="twice"):
            await lock_objects(session, [("product", product + 1)])
        await session.rollback()
        # A new transaction may lock again.
        await lock_objects(session, [("product", product)])
        await session.rollback()
    assert await stock_of(sessions, product) == 5


async def test_release_gives_back_and_unlimited_stays_unlimited(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    counted = await new_product(sessions, stock=2)
    unlimited = await new_product(sessions, stock=None)
    assert await checkout(sessions, {counted: 2, unlimited: 7})
    assert await stock_of(sessions, counted) == 0
    async with sessions.begin() as session:
        await catalog.release(session, {counted: 2, unlimited: 7})
    assert await stock_of(sessions, counted) == 2
    assert await stock_of(sessions, unlimited) is None


async def test_bad_quantities_and_negative_stock_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    product = await new_product(sessions, stock=3)
    async with sessions.begin() as session:
        await lock_objects(session, [("product", product)])
        with pytest.raises(DomainError) as refused:
            await catalog.reserve(session, {product: 0})
        assert refused.value.code == "invalid_quantity"
    async with sessions.begin() as session:
        with pytest.raises(DomainError) as refused:
            await catalog.set_stock(session, product, -1)
        assert refused.value.code == "invalid_stock"
    async with sessions.begin() as session:
        await catalog.set_stock(session, product, 12)
    assert await stock_of(sessions, product) == 12


async def test_sellables_read_price_stock_and_image_from_the_catalogue(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    product = await new_product(
        sessions, stock=0, title="Oat milk", price_minor=199, currency="EUR", unit="1 l"
    )
    async with sessions.begin() as session:
        session.add(ProductImage(product_id=product, url="https://img.example/b.jpg", position=2))
        session.add(ProductImage(product_id=product, url="https://img.example/a.jpg", position=1))
    async with sessions() as session:
        found = await catalog.sellables(session, [product, 987654321])
    assert list(found) == [product]
    item = found[product]
    assert item.price == Money(199, "EUR")
    assert str(item.price) == "€1.99"
    assert item.available is False  # none left
    assert item.stock == 0
    assert item.unit == "1 l"
    assert item.image_url == "https://img.example/a.jpg"
    assert item.url.startswith("https://market.example/products/p-")
