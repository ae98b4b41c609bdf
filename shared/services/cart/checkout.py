"""Checkout: the buyer's details checked, then the cart turned into an order awaiting
payment.

Stock: placing an order locks every line of every provider at once with
:func:`~shared.infrastructure.locking.lock_objects` and reserves per provider in the same
transaction; an unpaid order gives its stock back when it expires or is cancelled
(:mod:`shared.services.cart.expiry`, :mod:`shared.services.cart.orders`)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CartOwner, CheckoutDetails, OrderDTO
from shared.contracts.errors import CheckoutInvalid, Unavailable
from shared.errors import DomainError
from shared.infrastructure.locking import lock_objects
from shared.models import CartItem, Order, OrderLine
from shared.models.cart import FULFILMENTS
from shared.services import audit
from shared.services.cart._common import line_total, now_utc, owner_filter, total_of
from shared.services.cart.carts import CartLines
from shared.services.cart.orders import CartOrders

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


class CartCheckout(CartLines, CartOrders):
    """Placing an order (part of ``SqlCartService``)."""

    def check_details(self, details: CheckoutDetails) -> CheckoutDetails:
        email = details.email.strip()
        name = " ".join(details.name.split())
        if not EMAIL_RE.match(email) or len(email) > 320:
            raise CheckoutInvalid(
                "invalid_email", "Enter an email address for your receipt.", "email"
            )
        if not name or len(name) > 200:
            raise CheckoutInvalid(
                "invalid_name", "Enter your name (at most 200 characters).", "name"
            )
        phone = details.phone.strip()
        if len(phone) > 40 or (phone and not re.fullmatch(r"[0-9+() .-]{3,40}", phone)):
            raise CheckoutInvalid(
                "invalid_phone", "That phone number does not look right.", "phone"
            )
        if details.fulfilment not in FULFILMENTS:
            raise CheckoutInvalid(
                "invalid_fulfilment", "Choose collection or delivery.", "fulfilment"
            )
        address = details.address.strip()
        if details.fulfilment == "delivery" and not address:
            raise CheckoutInvalid("address_required", "Enter the delivery address.", "address")
        if len(address) > 1000:
            raise CheckoutInvalid("invalid_address", "That address is too long.", "address")
        notes = details.notes.strip()
        if len(notes) > 2000:
            raise CheckoutInvalid("invalid_notes", "Notes are at most 2000 characters.", "notes")
        return CheckoutDetails(
            email=email,
            name=name,
            fulfilment=details.fulfilment,
            phone=phone,
            address=address if details.fulfilment == "delivery" else "",
            notes=notes,
        )

    async def place_order(
        self,
        session: AsyncSession,
        owner: CartOwner,
        details: CheckoutDetails,
        *,
        reservation_ttl_s: int | None = None,
    ) -> OrderDTO:
        """Turn ``owner``'s cart into an order: prices re-read, every line reserved under
        one set of locks, lines snapshotted, the cart emptied — all or nothing."""
        details = self.check_details(details)
        rows = await self._rows(session, owner)
        if not rows:
            raise DomainError("cart_empty", "Your cart is empty.")
        by_kind: dict[str, dict[int, int]] = defaultdict(dict)
        for row in rows:
            by_kind[row.kind][row.item_id] = row.quantity
        keys = []
        for kind, quantities in sorted(by_kind.items()):
            keys.extend(await self.provider(kind).lock_keys(session, quantities))
        await lock_objects(session, keys)
        # Prices and availability as they are now, under the locks.
        sellables = await self._sellables(session, by_kind)
        missing = [(k, i) for k, q in by_kind.items() for i in q if (k, i) not in sellables]
        if missing:
            raise Unavailable(missing[0][0], [i for _k, i in missing])
        currencies = {sellables[(k, i)].price.currency for k, q in by_kind.items() for i in q}
        if len(currencies) != 1:
            raise DomainError(
                "mixed_currencies", "Your cart mixes currencies: check out separately."
            )
        currency = currencies.pop()
        for kind, quantities in sorted(by_kind.items()):
            await self.provider(kind).reserve(session, quantities)
        lines = [(row, sellables[(row.kind, row.item_id)]) for row in rows]
        total = total_of((line_total(s.price, r.quantity) for r, s in lines), currency)
        ttl = reservation_ttl_s or (self.settings.cart.reservation_ttl_s if self.settings else 1800)
        order = Order(
            user_id=owner.user_id,
            cart_key=owner.cart_key,
            status="pending_payment",
            currency=currency,
            total_minor=total.amount_minor,
            refunded_minor=0,
            email=details.email,
            name=details.name,
            phone=details.phone,
            fulfilment=details.fulfilment,
            address=details.address,
            notes=details.notes,
            reserved_until=now_utc() + timedelta(seconds=ttl),
        )
        session.add(order)
        await session.flush()
        for row, s in lines:
            session.add(
                OrderLine(
                    order_id=order.id,
                    kind=row.kind,
                    item_id=row.item_id,
                    title=s.title[:300],
                    unit_price_minor=s.price.amount_minor,
                    quantity=row.quantity,
                    url=s.url[:500],
                )
            )
        await session.execute(delete(CartItem).where(owner_filter(owner)))
        audit.record(
            session,
            "order.placed",
            object_type="order",
            object_id=order.id,
            actor_user_id=owner.user_id,
            actor=None if owner.user_id else "guest",
            after={
                "status": "pending_payment",
                "total_minor": total.amount_minor,
                "currency": currency,
            },
        )
        await session.flush()
        result = await self.order(session, order.id)
        assert result is not None
        return result
