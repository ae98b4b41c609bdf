"""The cart's stage in each cycle of ``rose-ash worker``: :func:`cart_payments`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import CartService
from shared.db import commit
from shared.errors import DomainError
from shared.services.cart.sumup import SumUpClient, SumUpError
from shared.services.domain import Stage, WorkerContext, WorkerStage

log = logging.getLogger("rose_ash.worker")


def cart_payments(
    session_factory: async_sessionmaker[AsyncSession], cart: CartService, settings: Settings
) -> Stage:
    """A processor stage: re-read pending SumUp checkouts (a lost webhook never leaves a paid
    order unpaid; an order whose checkout could not be created gets one), then expire unpaid
    orders whose reservation ran out, giving their stock back. Each order in its own
    transaction; an order SumUp cannot be asked about now is left for the next cycle (it is
    never expired without a last look at its checkout)."""
    sumup = SumUpClient.from_settings(settings)

    async def stage() -> int:
        done = 0
        now = datetime.now(UTC)
        async with session_factory() as session:
            due = await cart.due_for_poll(session, now, settings.cart.poll_interval_s)
            expiring = await cart.due_for_expiry(session, now)
        if not sumup.configured:
            # No payments can have been taken: only reservations to give back.
            for order_id in expiring:
                async with session_factory() as session:
                    done += await cart.expire_one(session, order_id, now)
                    await commit(session)
            return done
        for order_id in sorted(set(due) | set(expiring)):
            async with session_factory() as session:
                try:
                    order = await cart.order(session, order_id)
                    if order is None or not order.awaiting_payment:
                        continue
                    if order.payment is None or not order.payment.checkout_id:
                        await cart.ensure_checkout(session, order_id)
                        await commit(session)
                    outcome = await cart.sync_payment(session, order_id)
                    await commit(session)
                    done += outcome.result in ("paid", "flagged")
                except (SumUpError, DomainError) as err:
                    await session.rollback()
                    log.warning("order %s: SumUp could not be asked now: %s", order_id, err)
                    continue
                if order_id in expiring:
                    if await cart.expire_one(session, order_id, now):
                        done += 1
                    await commit(session)
        return done

    return stage


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    return [
        WorkerStage(cart_payments(worker.session_factory, worker.services.cart, worker.settings))
    ]
