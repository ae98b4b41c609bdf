"""What the worker asks of the cart: which unpaid orders to poll SumUp about, and which
reservations have run out (their stock goes back)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Order, Payment
from shared.services.cart.orders import CartOrders


class CartExpiry(CartOrders):
    """Expiring reservations and finding orders to poll (part of ``SqlCartService``)."""

    async def expire_one(self, session: AsyncSession, order_id: int, now: datetime) -> bool:
        """Expire an unpaid order whose reservation has run out: its stock goes back."""
        order = await self._lock_order(session, order_id)
        if order.status != "pending_payment" or order.reserved_until is None:
            return False
        if order.reserved_until > now:
            return False
        await self._release(session, order.id)
        order.reserved_until = None
        self._transition(session, order, "expired", "order.expired", actor="system")
        return True

    async def due_for_expiry(
        self, session: AsyncSession, now: datetime, limit: int = 50
    ) -> list[int]:
        return list(
            await session.scalars(
                select(Order.id)
                .where(Order.status == "pending_payment", Order.reserved_until <= now)
                .order_by(Order.reserved_until)
                .limit(limit)
            )
        )

    async def due_for_poll(
        self, session: AsyncSession, now: datetime, interval_s: int, limit: int = 50
    ) -> list[int]:
        """Unpaid orders whose checkouts were not read for ``interval_s`` (or not created)."""
        read_lately = select(Payment.id).where(
            Payment.order_id == Order.id,
            Payment.checked_at > now - timedelta(seconds=interval_s),
        )
        return list(
            await session.scalars(
                select(Order.id)
                .where(Order.status == "pending_payment", ~exists(read_lately))
                .order_by(Order.id)
                .limit(limit)
            )
        )
