"""Refunds of paid orders through SumUp, full or partial, recorded per transaction."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import Money, RefundDTO
from shared.contracts.errors import PaymentUnavailable
from shared.errors import Conflict, DomainError
from shared.models import Payment, Refund
from shared.services.cart._common import PAID_STATUSES
from shared.services.cart.orders import CartOrders
from shared.services.cart.sumup import SumUpError

log = logging.getLogger(__name__)


class CartRefunds(CartOrders):
    """Refunding (part of ``SqlCartService``)."""

    async def refund(
        self,
        session: AsyncSession,
        order_id: int,
        amount: Money,
        *,
        reason: str = "",
        by_user_id: int | None,
    ) -> RefundDTO:
        """Refund ``amount`` of a paid order through SumUp (full or partial), recorded per
        transaction. The order's lock is held across SumUp's answer so two staff members
        cannot refund the same money twice."""
        order = await self._lock_order(session, order_id)
        if order.status not in PAID_STATUSES:
            raise Conflict("order_not_refundable", "Only a paid order can be refunded.")
        if amount.currency != order.currency:
            raise DomainError("refund_currency", "A refund is in the order's currency.")
        left = order.total_minor - order.refunded_minor
        if not 0 < amount.amount_minor <= left:
            raise DomainError(
                "refund_amount",
                f"Refund between {Money(1, order.currency)} and {Money(left, order.currency)}.",
            )
        payment = await session.scalar(
            select(Payment)
            .where(Payment.order_id == order_id, Payment.transaction_id.is_not(None))
            .order_by(Payment.attempt)
            .limit(1)
        )
        if payment is None or not payment.transaction_id:
            raise Conflict("no_transaction", "This order has no SumUp transaction to refund.")
        try:
            await self.sumup.refund(payment.transaction_id, amount)
        except SumUpError as err:
            log.warning("order %s: refund failed: %s", order_id, err)
            raise PaymentUnavailable(
                "refund_failed", "SumUp did not accept the refund; nothing was refunded."
            ) from err
        refund = Refund(
            order_id=order.id,
            transaction_id=payment.transaction_id,
            amount_minor=amount.amount_minor,
            currency=amount.currency,
            reason=reason.strip()[:1000],
            by_user_id=by_user_id,
        )
        session.add(refund)
        order.refunded_minor += amount.amount_minor
        status = "refunded" if order.refunded_minor == order.total_minor else "partly_refunded"
        self._transition(
            session,
            order,
            status,
            "order.refunded",
            by_user_id=by_user_id,
            amount_minor=amount.amount_minor,
            refunded_minor=order.refunded_minor,
        )
        await session.flush()
        return RefundDTO(refund.id, amount, refund.transaction_id, refund.reason, refund.created_at)
