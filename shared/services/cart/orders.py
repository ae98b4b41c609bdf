"""Orders once placed: reading them (the buyer's, the member's, staff's lists) and the
changes of state staff make (cancel, mark fulfilled, clear a flag), with the helpers every
change of state goes through: the order's row lock, an audited transition, and the release
of an unpaid order's stock."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CartOwner,
    Money,
    OrderDTO,
    OrderLineDTO,
    OrderSummaryDTO,
    RefundDTO,
)
from shared.errors import Conflict, NotFound
from shared.models import Order, OrderLine, Payment, Refund
from shared.services import audit
from shared.services.cart._base import CartBase
from shared.services.cart._common import line_total, payment_dto


class CartOrders(CartBase):
    """Reading orders and changing their state (part of ``SqlCartService``)."""

    # -- reading orders --

    async def order(self, session: AsyncSession, order_id: int) -> OrderDTO | None:
        order = await session.get(Order, order_id, populate_existing=True)
        if order is None:
            return None
        lines = (
            await session.scalars(
                select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)
            )
        ).all()
        payments = (
            await session.scalars(
                select(Payment).where(Payment.order_id == order_id).order_by(Payment.attempt)
            )
        ).all()
        refunds = (
            await session.scalars(
                select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)
            )
        ).all()
        cur = order.currency
        return OrderDTO(
            id=order.id,
            user_id=order.user_id,
            status=order.status,
            email=order.email,
            name=order.name,
            phone=order.phone,
            fulfilment=order.fulfilment,
            address=order.address,
            notes=order.notes,
            total=Money(order.total_minor, cur),
            refunded=Money(order.refunded_minor, cur),
            created_at=order.created_at,
            paid_at=order.paid_at,
            reserved_until=order.reserved_until,
            needs_attention=order.needs_attention,
            attention_reason=order.attention_reason,
            lines=tuple(
                OrderLineDTO(
                    id=line.id,
                    kind=line.kind,
                    item_id=line.item_id,
                    title=line.title,
                    unit_price=Money(line.unit_price_minor, cur),
                    quantity=line.quantity,
                    line_total=line_total(Money(line.unit_price_minor, cur), line.quantity),
                    url=line.url,
                )
                for line in lines
            ),
            payment=payment_dto(payments[-1]) if payments else None,
            refunds=tuple(
                RefundDTO(
                    r.id,
                    Money(r.amount_minor, r.currency),
                    r.transaction_id,
                    r.reason,
                    r.created_at,
                )
                for r in refunds
            ),
            payments=tuple(payment_dto(payment) for payment in payments),
        )

    async def _order_dto(self, session: AsyncSession, order_id: int) -> OrderDTO:
        found = await self.order(session, order_id)
        if found is None:
            raise NotFound("order_not_found", "No such order.")
        return found

    async def _summaries(self, session: AsyncSession, query: Any) -> list[OrderSummaryDTO]:
        counts = (
            select(func.coalesce(func.sum(OrderLine.quantity), 0))
            .where(OrderLine.order_id == Order.id)
            .scalar_subquery()
        )
        rows = await session.execute(query.add_columns(counts))
        return [
            OrderSummaryDTO(
                id=o.id,
                status=o.status,
                total=Money(o.total_minor, o.currency),
                item_count=int(count),
                email=o.email,
                name=o.name,
                created_at=o.created_at,
                needs_attention=o.needs_attention,
            )
            for o, count in rows
        ]

    async def orders_for_member(self, session: AsyncSession, user_id: int) -> list[OrderSummaryDTO]:
        """The member's orders, newest first (one query, whatever their number)."""
        return await self._summaries(
            session, select(Order).where(Order.user_id == user_id).order_by(Order.id.desc())
        )

    async def unpaid_orders(self, session: AsyncSession, owner: CartOwner) -> list[OrderSummaryDTO]:
        """The orders this visitor placed that still await payment, newest first: the
        member's, or those a guest's browser placed with its cart key."""
        placed_by = (
            Order.user_id == owner.user_id
            if owner.user_id is not None
            else Order.cart_key == owner.cart_key
        )
        return await self._summaries(
            session,
            select(Order)
            .where(placed_by, Order.status == "pending_payment")
            .order_by(Order.id.desc()),
        )

    async def order_for_member(
        self, session: AsyncSession, user_id: int, order_id: int
    ) -> OrderDTO | None:
        """The member's own order; None for anyone else's (or none)."""
        owner = await session.scalar(select(Order.user_id).where(Order.id == order_id))
        if owner is None or owner != user_id:
            return None
        return await self.order(session, order_id)

    async def admin_orders(
        self,
        session: AsyncSession,
        *,
        status: str | None = None,
        attention: bool = False,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[OrderSummaryDTO]:
        query = select(Order).order_by(Order.id.desc()).limit(max(1, min(limit, 500)))
        if status:
            query = query.where(Order.status == status)
        if attention:
            query = query.where(Order.needs_attention.is_(True))
        if before_id is not None:
            query = query.where(Order.id < before_id)
        return await self._summaries(session, query)

    # -- state changes --

    async def _lock_order(self, session: AsyncSession, order_id: int) -> Order:
        order = await session.scalar(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if order is None:
            raise NotFound("order_not_found", "No such order.")
        return order

    def _transition(
        self,
        session: AsyncSession,
        order: Order,
        status: str,
        action: str,
        *,
        by_user_id: int | None = None,
        actor: str | None = None,
        **extra: Any,
    ) -> None:
        before = {"status": order.status}
        order.status = status
        audit.record(
            session,
            action,
            object_type="order",
            object_id=order.id,
            actor_user_id=by_user_id,
            actor=actor,
            before=before,
            after={"status": status, **extra},
        )

    async def _release(self, session: AsyncSession, order_id: int) -> None:
        lines = (
            await session.execute(
                select(OrderLine.kind, OrderLine.item_id, OrderLine.quantity).where(
                    OrderLine.order_id == order_id
                )
            )
        ).all()
        by_kind: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for kind, item_id, quantity in lines:
            by_kind[kind][item_id] += quantity
        for kind, quantities in sorted(by_kind.items()):
            await self.provider(kind).release(session, dict(quantities))

    async def cancel(self, session: AsyncSession, order_id: int, *, by_user_id: int | None) -> None:
        """Staff cancel an unpaid order: its stock goes back. (A paid order is refunded.)"""
        order = await self._lock_order(session, order_id)
        if order.status != "pending_payment":
            raise Conflict(
                "order_not_cancellable",
                "Only an order awaiting payment can be cancelled; refund a paid one.",
            )
        await self._release(session, order.id)
        order.reserved_until = None
        self._transition(session, order, "cancelled", "order.cancelled", by_user_id=by_user_id)

    async def mark_fulfilled(
        self, session: AsyncSession, order_id: int, *, by_user_id: int | None
    ) -> None:
        order = await self._lock_order(session, order_id)
        if order.status not in ("paid", "partly_refunded"):
            raise Conflict("order_not_fulfillable", "Only a paid order can be marked fulfilled.")
        self._transition(session, order, "fulfilled", "order.fulfilled", by_user_id=by_user_id)

    async def clear_attention(
        self, session: AsyncSession, order_id: int, *, by_user_id: int | None
    ) -> None:
        order = await self._lock_order(session, order_id)
        if order.needs_attention:
            order.needs_attention = False
            audit.record(
                session,
                "order.attention_cleared",
                object_type="order",
                object_id=order.id,
                actor_user_id=by_user_id,
                before={"reason": order.attention_reason},
            )
