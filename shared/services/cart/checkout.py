"""Checkout: the buyer's details checked, then the cart turned into an order awaiting
payment.

Stock: placing an order locks every line of every provider at once with
:func:`~shared.infrastructure.locking.lock_objects` and reserves per provider in the same
transaction; an unpaid order gives its stock back when it expires or is cancelled
(:mod:`shared.services.cart.expiry`, :mod:`shared.services.cart.orders`)."""

from __future__ import annotations

import dataclasses
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
from shared.services import audit
from shared.services.cart._common import line_total, now_utc, owner_filter, total_of
from shared.services.cart.carts import CartLines
from shared.services.cart.orders import CartOrders

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


class CartCheckout(CartLines, CartOrders):
    """Placing an order (part of ``SqlCartService``)."""

    def check_details(self, details: CheckoutDetails, *, physical: bool = True) -> CheckoutDetails:
        """The details cleaned, or every problem with them at once (``CheckoutInvalid``).
        How it is handed over is asked only when something ``physical`` is in the order."""
        problems: list[tuple[str, str, str]] = []  # (code, message, field)
        email = details.email.strip()
        name = " ".join(details.name.split())
        # In the form's order: the summary lists them as the form shows them.
        if not name or len(name) > 200:
            problems.append(("invalid_name", "Enter your name (at most 200 characters).", "name"))
        if not EMAIL_RE.match(email) or len(email) > 320:
            problems.append(("invalid_email", "Enter an email address for your receipt.", "email"))
        phone = details.phone.strip()
        if len(phone) > 40 or (phone and not re.fullmatch(r"[0-9+() .-]{3,40}", phone)):
            problems.append(("invalid_phone", "That phone number does not look right.", "phone"))
        address = details.address.strip()
        if physical and details.fulfilment not in ("collection", "delivery"):
            problems.append(("invalid_fulfilment", "Choose collection or delivery.", "fulfilment"))
        if physical and details.fulfilment == "delivery" and not address:
            problems.append(("address_required", "Enter the delivery address.", "address"))
        if len(address) > 1000:
            problems.append(("invalid_address", "That address is too long.", "address"))
        notes = details.notes.strip()
        if len(notes) > 2000:
            problems.append(("invalid_notes", "Notes are at most 2000 characters.", "notes"))
        if problems:
            code, message, field = problems[0]
            errors: dict[str, str] = {}
            for _code, text, where in problems:
                errors.setdefault(where, text)
            raise CheckoutInvalid(code, message, field, errors)
        return CheckoutDetails(
            email=email,
            name=name,
            fulfilment=details.fulfilment,
            phone=phone,
            address=address if details.fulfilment == "delivery" else "",
            notes=notes,
        )

    @staticmethod
    def _fulfilment_for(details: CheckoutDetails, physical: bool) -> CheckoutDetails:
        """How the order is handed over follows what is in it: collection or delivery (checked
        by ``check_details``) when anything is ``physical``, "none" (no address) when nothing
        is (tickets only)."""
        if not physical:
            return dataclasses.replace(details, fulfilment="none", address="")
        return details

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
        physical = any(s.physical for s in sellables.values())
        details = self._fulfilment_for(self.check_details(details, physical=physical), physical)
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
