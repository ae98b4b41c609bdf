"""The cart over real HTTP: cart and market apps under Hypercorn, the SumUp stand-in on
loopback, products committed to the run's database (removed again after each test); the shop
itself is in factories.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from shared.models import Order, Product
from shared.services.cart.sumup_standin import SumUpStandIn
from tests.cart.factories import Shop
from tests.support.live import Platform


@pytest.fixture
async def shop(sso: Platform, database_url: str) -> AsyncIterator[Shop]:
    standin = SumUpStandIn(retry_delays_s=(0.2, 0.5, 1.0))
    await standin.start()
    sso.env.update(
        ROSE_SUMUP__BASE_URL=standin.url,
        ROSE_SUMUP_API_KEY=standin.api_key,
        ROSE_SUMUP_MERCHANT_CODE=standin.merchant_code,
    )
    engine = create_async_engine(database_url, pool_size=5)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    shop = Shop(sso, standin, sessions)
    try:
        yield shop
    finally:
        await standin.stop()
        async with sessions.begin() as db:
            if shop.products:
                order_ids = (
                    select(text("order_id"))
                    .select_from(text("order_lines"))
                    .where(text("kind = 'product' AND item_id = ANY(:ids)"))
                    .params(ids=shop.products)
                )
                await db.execute(delete(Order).where(Order.id.in_(order_ids)))
                await db.execute(delete(Product).where(Product.id.in_(shop.products)))
        await engine.dispose()
