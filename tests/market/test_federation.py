"""The market actor announces products and market pages to its followers (issue #20, item 6):
a new product as a ``Note`` Mastodon shows whole (its text with price and link, its picture,
its categories as hashtags), re-sent when what a follower sees changes, withdrawn when it
leaves the shop; market pages as ``Article``s. Changes reach followers only once they have
settled, so a burst of writes is one activity. Each step commits, as requests do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shared.contracts import (
    CatalogService,
    CategoryInput,
    MarketPageInput,
    ProductImageDTO,
    ProductInput,
)
from shared.models import ApActivity, Product
from shared.services.registry import build_services
from tests.support.settings import make_settings

QUIET_S = 300.0


@pytest.fixture
async def sessions(scratch_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(scratch_database_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


@pytest.fixture
def catalog(scratch_database_url: str, redis_url: str) -> CatalogService:
    return build_services(make_settings(scratch_database_url, redis_url)).catalog


class Market:
    """The catalogue and the worker's stage, each call its own transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], catalog: CatalogService):
        self.sessions = sessions
        self.catalog = catalog
        self.seen = 0

    async def settle(self, *, after_s: float = QUIET_S + 1) -> int:
        """Run the stage as if ``after_s`` had passed since now; returns activities written."""
        settled = datetime.now(UTC) + timedelta(seconds=after_s - QUIET_S)
        async with self.sessions.begin() as session:
            return await self.catalog.federate_due(session, settled=settled)

    async def new(self) -> list[dict[str, Any]]:
        """The market actor's activities written since the last call."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(ApActivity)
                    .where(ApActivity.actor_app == "market")
                    .order_by(ApActivity.id)
                    .offset(self.seen)
                )
            ).all()
        self.seen += len(rows)
        return [row.payload for row in rows]


@pytest.fixture
async def market(sessions: async_sessionmaker[AsyncSession], catalog: CatalogService) -> Market:
    market = Market(sessions, catalog)
    await market.settle(after_s=10 * QUIET_S)  # whatever an earlier test left
    await market.new()
    return market


async def test_a_product_is_announced_once_settled_updated_when_seen_to_change_and_withdrawn(
    market: Market, sessions: async_sessionmaker[AsyncSession], catalog: CatalogService
) -> None:
    async with sessions.begin() as session:
        bakery = await catalog.create_category(session, CategoryInput(name="Bakery bread"))
        loaf = await catalog.create_product(
            session,
            ProductInput(
                title="Seeded rye",
                price_minor=420,
                unit="loaf",
                summary="Baked on Fridays.",
                stock=3,
                categories=(bakery.slug,),
                images=(ProductImageDTO("/static/img/market/loaf.svg", "A rye loaf"),),
            ),
        )
    # Not yet settled: nothing goes out.
    assert await market.settle(after_s=QUIET_S / 2) == 0
    assert await market.settle() == 1
    [created] = await market.new()
    assert created["type"] == "Create"
    assert created["actor"].endswith("/ap/users/market")
    note = created["object"]
    assert note["type"] == "Note"
    assert note["id"] == note["url"]
    assert note["url"].endswith(f"/products/{loaf.slug}")
    assert "Seeded rye" in note["content"]
    assert "4.20" in note["content"]
    assert "Baked on Fridays." in note["content"]
    assert [a["name"] for a in note["attachment"]] == ["A rye loaf"]
    assert note["attachment"][0]["url"].endswith("/static/img/market/loaf.svg")
    assert note["tag"][0]["name"] == "#BakeryBread"
    assert note["tag"][0]["href"].endswith(f"/categories/{bakery.slug}")
    # Nothing changed: nothing more is sent, however often the stage runs.
    assert await market.settle() == 0

    # A sale changes the stock count but not what a follower sees: no Update.
    await _set_stock(sessions, catalog, loaf.id, 2)
    assert await market.settle() == 0
    # Three price changes in a row reach followers as one Update, with the last price.
    for price in (450, 460, 480):
        async with sessions.begin() as session:
            await session.execute(
                update(Product).where(Product.id == loaf.id).values(price_minor=price)
            )
    assert await market.settle() == 1
    [updated] = await market.new()
    assert updated["type"] == "Update"
    assert updated["object"]["id"] == note["id"]
    assert "4.80" in updated["object"]["content"]
    # Sold out: followers see it.
    await _set_stock(sessions, catalog, loaf.id, 0)
    assert await market.settle() == 1
    [sold_out] = await market.new()
    assert sold_out["type"] == "Update"
    assert "out of stock" in sold_out["object"]["content"]

    # Taken out of the shop: withdrawn, as a Tombstone of a Note.
    async with sessions.begin() as session:
        await session.execute(update(Product).where(Product.id == loaf.id).values(available=False))
    assert await market.settle() == 1
    [deleted] = await market.new()
    assert deleted["type"] == "Delete"
    assert deleted["object"]["id"] == note["id"]
    assert deleted["object"]["type"] == "Tombstone"
    assert await market.settle() == 0


async def test_a_product_never_available_is_never_announced(
    market: Market, sessions: async_sessionmaker[AsyncSession], catalog: CatalogService
) -> None:
    async with sessions.begin() as session:
        await catalog.create_product(
            session, ProductInput(title="Not for sale yet", price_minor=100, available=False)
        )
    assert await market.settle() == 0
    assert await market.new() == []


async def test_a_market_page_is_announced_when_published_and_withdrawn_when_deleted(
    market: Market, sessions: async_sessionmaker[AsyncSession], catalog: CatalogService
) -> None:
    async with sessions.begin() as session:
        page = await catalog.create_market_page(
            session, MarketPageInput(title="Winter tastings", intro="<p>Cheese and cider.</p>")
        )
    assert await market.settle() == 0, "a draft page is not announced"
    async with sessions.begin() as session:
        await catalog.update_market_page(
            session,
            page.id,
            MarketPageInput(
                title="Winter tastings", intro="<p>Cheese and cider.</p>", published=True
            ),
        )
    assert await market.settle() == 1
    [created] = await market.new()
    assert created["type"] == "Create"
    article = created["object"]
    assert article["type"] == "Article"
    assert article["name"] == "Winter tastings"
    assert article["url"].endswith(f"/pages/{page.slug}")
    async with sessions.begin() as session:
        await catalog.delete_market_page(session, page.id)
    # Withdrawn in the deleting transaction, not later: the row is gone.
    [deleted] = await market.new()
    assert deleted["type"] == "Delete"
    assert deleted["object"]["id"] == article["id"]
    assert await market.settle() == 0


async def _set_stock(
    sessions: async_sessionmaker[AsyncSession], catalog: CatalogService, product_id: int, n: int
) -> None:
    async with sessions.begin() as session:
        await catalog.set_stock(session, product_id, n)
