"""The cart's demo seeder; the content is in demo.yaml beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Order, OrderLine, Product, User
from shared.services.domain import demo_content


async def seed_cart(session: AsyncSession) -> None:
    """Something to buy (when the catalogue is empty) and Alice's past order, paid and
    collected: it shows in her orders and in staff's order admin. Payments in the demo go to
    the SumUp stand-in `rose-ash up` serves (TEST PAYMENTS)."""
    content = demo_content(__file__)
    if await session.scalar(select(func.count()).select_from(Product)) == 0:
        for product in content["products_when_catalogue_empty"]:
            session.add(
                Product(
                    slug=product["slug"],
                    title=product["title"],
                    price_minor=product["price_minor"],
                    stock=product["stock"],
                )
            )
        await session.flush()
    spec = content["past_order"]
    buyer = await session.scalar(select(User.id).where(User.username == spec["username"]))
    if buyer is None or await session.scalar(select(Order.id).where(Order.user_id == buyer)):
        return
    quantities: list[int] = spec["quantities"]
    products = (
        await session.scalars(
            select(Product).where(Product.available.is_(True)).limit(len(quantities))
        )
    ).all()
    if not products:
        return
    lines = list(zip(products, quantities, strict=False))
    placed = datetime.now(UTC).replace(microsecond=0) - timedelta(days=spec["days_ago"])
    order = Order(
        user_id=buyer,
        status="fulfilled",
        currency=products[0].currency,
        total_minor=sum(p.price_minor * q for p, q in lines),
        email=spec["email"],
        name=spec["name"],
        fulfilment=spec["fulfilment"],
        notes=spec["notes"],
        paid_at=placed + timedelta(minutes=3),
        created_at=placed,
    )
    session.add(order)
    await session.flush()
    for product, quantity in lines:
        session.add(
            OrderLine(
                order_id=order.id,
                kind="product",
                item_id=product.id,
                title=product.title,
                unit_price_minor=product.price_minor,
                quantity=quantity,
                fulfilled_at=placed + timedelta(minutes=3),
            )
        )
