"""An order's payment attempts: the SumUp checkout the buyer pays, created when first
needed and made anew (a new attempt) only when every earlier one can no longer be paid."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import Money, PaymentDTO
from shared.contracts.errors import PaymentUnavailable
from shared.errors import Conflict, DomainError, NotFound
from shared.models import Order, Payment
from shared.services import audit
from shared.services.cart._common import PAID_STATUSES, checkout_reference, payment_dto
from shared.services.cart.payment_sync import CartPaymentSync
from shared.services.cart.sumup import Checkout, SumUpError

log = logging.getLogger(__name__)

# SumUp statuses after which a checkout can never be paid: only then may the buyer get a new
# attempt (a new checkout), so no order is ever charged twice.
SPENT_CHECKOUT = ("FAILED", "EXPIRED")
MAX_PAYMENT_ATTEMPTS = 5


class CartPayments(CartPaymentSync):
    """SumUp checkouts and their attempts (part of ``SqlCartService``)."""

    async def ensure_checkout(
        self,
        session: AsyncSession,
        order_id: int,
    ) -> PaymentDTO:
        """The order's current SumUp checkout, its first created if needed (reference = the
        order id; a 409 is recovered by lookup). Raises :class:`PaymentUnavailable` when
        SumUp cannot be reached: the order stays reserved and pending."""
        order = await session.get(Order, order_id, populate_existing=True)
        if order is None:
            raise NotFound("order_not_found", "No such order.")
        payment = await self._latest_attempt(session, order_id)
        if payment is not None and payment.checkout_id:
            return payment_dto(payment)
        if order.status != "pending_payment":
            raise Conflict("order_not_payable", "This order is not awaiting payment.")
        checkout = await self._create_checkout(order, 1)
        stmt = insert(Payment).values(
            order_id=order.id,
            attempt=1,
            checkout_id=checkout.id,
            status=checkout.status or "PENDING",
            amount_minor=order.total_minor,
            currency=order.currency,
            hosted_url=checkout.hosted_url,
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["order_id", "attempt"],
                set_={
                    "checkout_id": checkout.id,
                    "hosted_url": checkout.hosted_url,
                    "updated_at": func.now(),
                },
            )
        )
        payment = await self._latest_attempt(session, order_id)
        assert payment is not None
        return payment_dto(payment)

    async def _latest_attempt(self, session: AsyncSession, order_id: int) -> Payment | None:
        return await session.scalar(
            select(Payment)
            .where(Payment.order_id == order_id)
            .order_by(Payment.attempt.desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )

    async def _create_checkout(self, order: Order, attempt: int) -> Checkout:
        total = Money(order.total_minor, order.currency)
        try:
            return await self.sumup.create_checkout(
                checkout_reference(order.id, attempt),
                total,
                description=f"Order {order.id}" + (f" (attempt {attempt})" if attempt > 1 else ""),
                # SumUp's webhook target, and where the buyer comes back to.
                return_url=self._cart_url("/webhooks/sumup"),
                redirect_url=self._cart_url(f"/orders/{order.id}/return"),
            )
        except SumUpError as err:
            log.warning("order %s: could not create the SumUp checkout: %s", order.id, err)
            raise PaymentUnavailable(
                "payment_unavailable",
                "We could not reach the payment provider just now. Your order is reserved: "
                "try paying again in a minute.",
            ) from err

    async def retry_checkout(self, session: AsyncSession, order_id: int) -> PaymentDTO:
        """The checkout the buyer should pay now. Every attempt is re-read from SumUp first
        (which may find the order paid); a new attempt is made only when SumUp reports every
        earlier checkout FAILED or EXPIRED, decided under the order's row lock, so two
        clicks at once make one new checkout and no order is ever charged twice."""
        order = await session.get(Order, order_id, populate_existing=True)
        if order is None:
            raise NotFound("order_not_found", "No such order.")
        latest = await self._latest_attempt(session, order_id)
        if latest is None or not latest.checkout_id:
            return await self.ensure_checkout(session, order_id)
        try:
            await self.sync_payment(session, order_id)  # takes the order's row lock
        except SumUpError as err:
            log.warning("order %s: could not re-read its checkouts: %s", order_id, err)
            raise PaymentUnavailable(
                "payment_unavailable",
                "We could not reach the payment provider just now. Your order is reserved: "
                "try paying again in a minute.",
            ) from err
        order = await self._lock_order(session, order_id)
        attempts = list(
            await session.scalars(
                select(Payment)
                .where(Payment.order_id == order_id)
                .order_by(Payment.attempt)
                .execution_options(populate_existing=True)
            )
        )
        if order.status != "pending_payment":
            paid = [a for a in attempts if a.transaction_id]
            if order.status in PAID_STATUSES and paid:
                return payment_dto(paid[0])  # the re-read found it paid: nothing to retry
            raise Conflict("order_not_payable", "This order is not awaiting payment.")
        live = [a for a in attempts if a.status not in SPENT_CHECKOUT]
        if live:
            # A checkout that can still be paid (or was): the buyer pays that one, never a
            # second.
            return payment_dto(live[-1])
        if len(attempts) >= MAX_PAYMENT_ATTEMPTS:
            raise DomainError(
                "too_many_attempts",
                "This order cannot be paid online any more: please contact us or order again.",
            )
        attempt = attempts[-1].attempt + 1
        checkout = await self._create_checkout(order, attempt)
        payment = Payment(
            order_id=order.id,
            attempt=attempt,
            checkout_id=checkout.id,
            status=(checkout.status or "PENDING")[:20],
            amount_minor=order.total_minor,
            currency=order.currency,
            hosted_url=checkout.hosted_url,
        )
        session.add(payment)
        audit.record(
            session,
            "order.payment_retried",
            object_type="order",
            object_id=order.id,
            actor="buyer",
            before={"attempt": attempts[-1].attempt, "checkout_status": attempts[-1].status},
            after={"attempt": attempt, "checkout_id": checkout.id},
        )
        await session.flush()
        await session.refresh(payment)
        return payment_dto(payment)

    async def order_id_for_checkout(self, session: AsyncSession, checkout_id: str) -> int | None:
        return await session.scalar(
            select(Payment.order_id).where(Payment.checkout_id == checkout_id)
        )
