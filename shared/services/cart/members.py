"""What the cart holds for a member's account: their recent orders for the dashboard
(MemberOrders) and their personal data, exported and erased (PersonalData)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import MemberOrderDTO, Money, PersonalDataDTO
from shared.models import CartItem, Order, OrderLine, Payment, Refund
from shared.services import audit
from shared.services.cart._base import CartBase

# What an erased member's orders keep in place of their details (a delivery order must keep
# some address: the orders table insists).
ERASED = "(erased)"


class CartMemberData(CartBase):
    """The member's dashboard and personal data (part of ``SqlCartService``)."""

    async def dashboard_orders(
        self, session: AsyncSession, user_id: int, *, limit: int = 10, offset: int = 0
    ) -> tuple[MemberOrderDTO, ...]:
        """The member's orders, newest first: ``limit`` of them (at most 100) after the first
        ``offset`` (one query)."""
        rows = await session.scalars(
            select(Order)
            .where(Order.user_id == user_id)
            .order_by(Order.id.desc())
            .offset(max(0, offset))
            .limit(max(1, min(limit, 100)))
        )
        return tuple(
            MemberOrderDTO(
                id=o.id,
                reference=f"#{o.id}",
                status=o.status,
                total=Money(o.total_minor, o.currency),
                placed_at=o.created_at,
                url=self.member_order_url(o.id),
            )
            for o in rows
        )

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The member's orders (contact details, lines, payments, refunds) and cart."""
        orders = (
            await session.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.id))
        ).all()
        ids = [o.id for o in orders]
        lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
        payments: dict[int, list[dict[str, Any]]] = defaultdict(list)
        refunds: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if ids:
            for line in await session.scalars(
                select(OrderLine).where(OrderLine.order_id.in_(ids)).order_by(OrderLine.id)
            ):
                lines[line.order_id].append(
                    {
                        "kind": line.kind,
                        "item_id": line.item_id,
                        "title": line.title,
                        "unit_price_minor": line.unit_price_minor,
                        "quantity": line.quantity,
                    }
                )
            for pay in await session.scalars(
                select(Payment)
                .where(Payment.order_id.in_(ids))
                .order_by(Payment.order_id, Payment.attempt)
            ):
                payments[pay.order_id].append(
                    {
                        "attempt": pay.attempt,
                        "status": pay.status,
                        "amount_minor": pay.amount_minor,
                        "currency": pay.currency,
                        "transaction_code": pay.transaction_code,
                        "created_at": pay.created_at.isoformat(),
                    }
                )
            for refund in await session.scalars(
                select(Refund).where(Refund.order_id.in_(ids)).order_by(Refund.id)
            ):
                refunds[refund.order_id].append(
                    {
                        "amount_minor": refund.amount_minor,
                        "currency": refund.currency,
                        "created_at": refund.created_at.isoformat(),
                    }
                )
        cart = await session.scalars(
            select(CartItem).where(CartItem.user_id == user_id).order_by(CartItem.id)
        )
        return PersonalDataDTO(
            "cart",
            {
                "orders": [
                    {
                        "id": o.id,
                        "status": o.status,
                        "placed_at": o.created_at.isoformat(),
                        "paid_at": o.paid_at.isoformat() if o.paid_at else None,
                        "currency": o.currency,
                        "total_minor": o.total_minor,
                        "refunded_minor": o.refunded_minor,
                        "name": o.name,
                        "email": o.email,
                        "phone": o.phone,
                        "fulfilment": o.fulfilment,
                        "address": o.address,
                        "notes": o.notes,
                        "lines": lines[o.id],
                        "payments": payments[o.id],
                        "refunds": refunds[o.id],
                    }
                    for o in orders
                ],
                "cart": [
                    {"kind": c.kind, "item_id": c.item_id, "quantity": c.quantity} for c in cart
                ],
            },
        )

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Anonymise the member's orders (name, email, phone, address, notes), keeping what
        was bought and paid for the accounts; delete their cart. Guest orders placed with
        the same address are not theirs to erase: nothing proves who placed them."""
        erased = (
            await session.execute(
                update(Order)
                .where(Order.user_id == user_id)
                .values(
                    name=ERASED,
                    email="",
                    phone="",
                    notes="",
                    address=case((Order.fulfilment == "delivery", ERASED), else_=""),
                    updated_at=func.now(),
                )
                .returning(Order.id)
            )
        ).scalars()
        for order_id in erased:
            audit.record(
                session,
                "order.personal_data_erased",
                object_type="order",
                object_id=order_id,
                actor_user_id=user_id,
                after={"name": ERASED, "email": "", "phone": "", "notes": ""},
            )
        await session.execute(delete(CartItem).where(CartItem.user_id == user_id))
