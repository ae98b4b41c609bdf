"""Acting on what SumUp says about an order's checkouts: the only path to "paid".

Payments follow docs/EXTERNAL-APIS.md: an order is paid only when a re-read of its SumUp
checkout says PAID with a successful transaction for exactly the order's amount and currency.
Webhooks, the buyer's return and the worker's poll all end in
:meth:`CartPaymentSync.sync_payment`, which takes the order's row lock before changing
anything: however many arrive at once, the order is paid once, fulfilled once, audited once
and receipted once. What cannot be settled automatically (a wrong amount, a payment after
expiry, two payments) is flagged for staff."""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import FulfilmentLine, Money, SyncOutcome
from shared.db import after_commit
from shared.models import Order, OrderLine, Payment
from shared.services import audit
from shared.services.cart._common import checkout_reference, now_utc
from shared.services.cart.orders import CartOrders
from shared.services.cart.receipt import CartReceipt
from shared.services.cart.sumup import Checkout, Transaction

log = logging.getLogger(__name__)


class CartPaymentSync(CartOrders, CartReceipt):
    """Settling payments from SumUp's word (part of ``SqlCartService``)."""

    async def sync_payment(self, session: AsyncSession, order_id: int) -> SyncOutcome:
        """Re-read the order's checkouts (every attempt) from SumUp and act on what they say
        (the only path to "paid"). SumUp is read before the order's row lock is taken, then
        every decision is made under it. Raises :class:`SumUpError` when SumUp cannot be
        read."""
        known = (
            await session.execute(
                select(Payment.id, Payment.checkout_id)
                .where(Payment.order_id == order_id, Payment.checkout_id.is_not(None))
                .order_by(Payment.attempt)
            )
        ).all()
        if not known:
            return SyncOutcome("unknown", order_id)
        read: dict[int, Checkout | None] = {}
        for payment_id, checkout_id in known:
            read[payment_id] = await self.sumup.checkout(str(checkout_id))
        order = await self._lock_order(session, order_id)
        attempts = (
            await session.scalars(
                select(Payment)
                .where(Payment.id.in_(list(read)))
                .order_by(Payment.attempt)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
        expected = Money(order.total_minor, order.currency)
        confirmed = False
        paid: list[tuple[Payment, Transaction]] = []
        for payment in attempts:
            checkout = read[payment.id]
            payment.checked_at = now_utc()
            if checkout is None or checkout.reference != checkout_reference(
                order.id, payment.attempt
            ):
                # SumUp does not know it, or it belongs to another order: change nothing else.
                payment.last_error = "SumUp does not confirm this checkout for this order"
                continue
            confirmed = True
            payment.status = checkout.status[:20]
            payment.last_error = ""
            paid_by = checkout.successful_payment()
            if paid_by is None:
                continue
            if paid_by.amount != expected or checkout.amount != expected:
                reason = (
                    f"SumUp reports a payment of {paid_by.amount or 'an unreadable amount'} "
                    f"(transaction {paid_by.code or paid_by.id}) for an order of {expected}."
                )
                return self._flag(session, order, reason)
            paid.append((payment, paid_by))
        if not confirmed:
            return SyncOutcome("unknown", order_id)
        if not paid:
            return SyncOutcome("unchanged", order_id)
        recorded = [p for p in attempts if p.transaction_id]
        if order.status != "pending_payment":
            if order.status in ("expired", "cancelled") and not recorded:
                payment, paid_by = paid[0]
                payment.transaction_id = paid_by.id
                payment.transaction_code = paid_by.code
                return self._flag(
                    session,
                    order,
                    f"Paid on SumUp (transaction {paid_by.code or paid_by.id}) after the order "
                    f"was {order.status}: refund it or fulfil it by hand.",
                )
            return self._flag_twice_paid(session, order, paid)
        payment, paid_by = paid[0]
        payment.transaction_id = paid_by.id
        payment.transaction_code = paid_by.code
        order.paid_at = now_utc()
        order.reserved_until = None
        self._transition(
            session,
            order,
            "paid",
            "order.paid",
            actor="sumup",
            transaction_id=paid_by.id,
            amount_minor=expected.amount_minor,
            attempt=payment.attempt,
        )
        await self._fulfil(session, order)
        self._flag_twice_paid(session, order, paid)
        await session.flush()
        # Written now, sent once the payment is committed (never for a rolled-back one).
        receipt = self.receipt_email(await self._order_dto(session, order.id))
        if self.mailer is not None and receipt.to:
            mailer = self.mailer

            async def send() -> None:
                await mailer.send_quietly(receipt)

            after_commit(session, send)
        return SyncOutcome("paid", order_id)

    def _flag_twice_paid(
        self, session: AsyncSession, order: Order, paid: list[tuple[Payment, Transaction]]
    ) -> SyncOutcome:
        # Cannot happen while SumUp keeps FAILED and EXPIRED final (a new attempt is only
        # made after those), but if it ever does, staff must see it and refund one.
        if len(paid) < 2:
            return SyncOutcome("unchanged", order.id)
        codes = ", ".join(tx.code or tx.id for _p, tx in paid)
        return self._flag(
            session, order, f"Paid more than once on SumUp (transactions {codes}): refund one."
        )

    def _flag(self, session: AsyncSession, order: Order, reason: str) -> SyncOutcome:
        if order.needs_attention and order.attention_reason == reason:
            return SyncOutcome("unchanged", order.id)
        order.needs_attention = True
        order.attention_reason = reason
        audit.record(
            session,
            "order.flagged",
            object_type="order",
            object_id=order.id,
            actor="sumup",
            after={"reason": reason, "status": order.status},
        )
        log.warning("order %s flagged for staff: %s", order.id, reason)
        return SyncOutcome("flagged", order.id)

    async def _fulfil(self, session: AsyncSession, order: Order) -> None:
        lines = (
            await session.scalars(
                select(OrderLine)
                .where(OrderLine.order_id == order.id, OrderLine.fulfilled_at.is_(None))
                .order_by(OrderLine.id)
            )
        ).all()
        by_kind: dict[str, list[FulfilmentLine]] = defaultdict(list)
        for line in lines:
            by_kind[line.kind].append(
                FulfilmentLine(
                    order_id=order.id,
                    order_line_id=line.id,
                    item_id=line.item_id,
                    quantity=line.quantity,
                    buyer_user_id=order.user_id,
                    buyer_email=order.email,
                    buyer_name=order.name,
                )
            )
            line.fulfilled_at = now_utc()
        for kind, handed in sorted(by_kind.items()):
            await self.provider(kind).fulfil(session, handed)
