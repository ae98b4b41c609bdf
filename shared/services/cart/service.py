"""The cart domain's service: carts, checkout, orders and their SumUp payments.

Money rules live here, in one place (:func:`line_total`, :func:`total_of`): a line costs its
unit price times its quantity, an order costs the sum of its lines, both in integer minor
units of one currency; nothing is ever rounded because nothing is ever divided (a partial
refund is an amount staff type, checked against what is left).

Stock: placing an order locks every line of every provider at once with
:func:`~shared.infrastructure.locking.lock_objects` and reserves per provider in the same
transaction; an unpaid order gives its stock back when it expires or is cancelled.

Payments follow docs/EXTERNAL-APIS.md: an order is paid only when a re-read of its SumUp
checkout says PAID with a successful transaction for exactly the order's amount and currency.
Webhooks, the buyer's return and the worker's poll all end in :meth:`SqlCartService.sync_payment`,
which takes the order's row lock before changing anything: however many arrive at once, the
order is paid once, fulfilled once, audited once and receipted once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts.dtos import (
    CartDTO,
    CartLineDTO,
    CartOwner,
    CartSummaryDTO,
    CheckoutDetails,
    FulfilmentLine,
    MemberOrderDTO,
    Money,
    OrderDTO,
    OrderLineDTO,
    OrderSummaryDTO,
    PaymentDTO,
    PersonalDataDTO,
    RefundDTO,
    SellableDTO,
    SyncOutcome,
)
from shared.contracts.errors import (
    CheckoutInvalid,
    ItemUnavailable,
    PaymentUnavailable,
    ShortStock,
    Unavailable,
)
from shared.db import after_commit
from shared.errors import Conflict, DomainError, NotFound
from shared.infrastructure.locking import lock_objects
from shared.infrastructure.mail import Email, Mailer
from shared.models import CartItem, Order, OrderLine, Payment, Refund
from shared.services import audit
from shared.services.cart.sumup import Checkout, SumUpClient, SumUpError, Transaction

log = logging.getLogger(__name__)

KINDS = ("product", "ticket")
MAX_QUANTITY = 99
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
LIVE_STATUSES = ("pending_payment",)
PAID_STATUSES = ("paid", "fulfilled", "partly_refunded")
# SumUp statuses after which a checkout can never be paid: only then may the buyer get a new
# attempt (a new checkout), so no order is ever charged twice.
SPENT_CHECKOUT = ("FAILED", "EXPIRED")
MAX_PAYMENT_ATTEMPTS = 5
# What an erased member's orders keep in place of their details (a delivery order must keep
# some address: the orders table insists).
ERASED = "(erased)"


def checkout_reference(order_id: int, attempt: int) -> str:
    """SumUp's ``checkout_reference`` (its idempotency key, usable once) of an order's
    payment attempt: the bare order id for the first, ``<order id>-<attempt>`` after."""
    return str(order_id) if attempt == 1 else f"{order_id}-{attempt}"


# --- money: the one place totals are made -------------------------------------------------


def line_total(unit_price: Money, quantity: int) -> Money:
    return unit_price * quantity


def total_of(amounts: Iterable[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total


# --- errors a buyer can read ---------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _owner_filter(owner: CartOwner) -> Any:
    if owner.user_id is not None:
        return CartItem.user_id == owner.user_id
    return CartItem.cart_key == owner.cart_key


class SqlCartService:
    """Implements :class:`shared.contracts.protocols.CartService`."""

    def __init__(
        self, settings: Settings | None = None, providers: Mapping[str, Any] | None = None
    ) -> None:
        self.settings = settings
        self._providers: dict[str, Any] = dict(providers or {})
        self.mailer = Mailer(settings) if settings is not None else None
        self.sumup = (
            SumUpClient.from_settings(settings)
            if settings is not None
            else SumUpClient("https://api.sumup.com", None, None)
        )

    # -- wiring --

    def set_providers(self, providers: Mapping[str, Any]) -> None:
        """The domains that sell through the cart, by kind (``SellableProvider``)."""
        self._providers = dict(providers)

    def provider(self, kind: str) -> Any:
        provider = self._providers.get(kind)
        if provider is None or not hasattr(provider, "sellables"):
            raise DomainError("unknown_kind", "That cannot be bought here.")
        return provider

    def _link_key(self) -> bytes:
        secret = (self.settings.secrets.secret_key if self.settings else None) or ""
        return hmac.new(secret.encode(), b"cart:order-link", hashlib.sha256).digest()

    def order_token(self, order_id: int) -> str:
        """The token of a guest's link to their order (in the receipt)."""
        return hmac.new(self._link_key(), f"order:{order_id}".encode(), "sha256").hexdigest()[:40]

    def check_order_token(self, order_id: int, token: str) -> bool:
        return hmac.compare_digest(self.order_token(order_id), token or "")

    def _cart_url(self, path: str) -> str:
        base = self.settings.apps["cart"].public_url if self.settings else ""
        return base + path

    def order_url(self, order_id: int, *, token: bool = True) -> str:
        base = self.settings.apps["cart"].public_url if self.settings else ""
        url = f"{base}/orders/{order_id}"
        return f"{url}?t={self.order_token(order_id)}" if token else url

    def member_order_url(self, order_id: int) -> str:
        """Where a member reads their order: its page in the account app."""
        base = self.settings.apps["account"].public_url if self.settings else ""
        return f"{base}/orders/{order_id}"

    # -- reading the cart --

    async def _sellables(
        self, session: AsyncSession, wanted: Mapping[str, Iterable[int]]
    ) -> dict[tuple[str, int], SellableDTO]:
        found: dict[tuple[str, int], SellableDTO] = {}
        for kind, ids in wanted.items():
            ids = sorted(set(ids))
            if not ids:
                continue
            try:
                provider = self.provider(kind)
            except DomainError:
                continue  # a kind whose domain is not wired: its lines show as unavailable
            for item_id, sellable in (await provider.sellables(session, ids)).items():
                found[(kind, item_id)] = sellable
        return found

    async def _rows(self, session: AsyncSession, owner: CartOwner) -> list[CartItem]:
        rows = await session.scalars(
            select(CartItem).where(_owner_filter(owner)).order_by(CartItem.created_at, CartItem.id)
        )
        return list(rows)

    async def cart(self, session: AsyncSession, owner: CartOwner) -> CartDTO:
        """``owner``'s cart at today's prices and stock (two queries per kind, any size)."""
        rows = await self._rows(session, owner)
        wanted: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            wanted[row.kind].append(row.item_id)
        sellables = await self._sellables(session, wanted)
        lines = []
        for row in rows:
            s = sellables.get((row.kind, row.item_id))
            if s is None:
                lines.append(
                    CartLineDTO(
                        row.kind,
                        row.item_id,
                        row.quantity,
                        "No longer available",
                        None,
                        None,
                        0,
                        "",
                        problem="unavailable",
                    )
                )
                continue
            problem = None
            if not s.available:
                problem = "unavailable"
            elif s.stock is not None and s.stock < row.quantity:
                problem = "short"
            lines.append(
                CartLineDTO(
                    kind=row.kind,
                    item_id=row.item_id,
                    quantity=row.quantity,
                    title=s.title,
                    unit_price=s.price,
                    line_total=line_total(s.price, row.quantity),
                    stock=s.stock,
                    url=s.url,
                    image_url=s.image_url,
                    problem=problem,
                )
            )
        priced = [line.line_total for line in lines if line.line_total is not None]
        currency = priced[0].currency if priced else None
        total = total_of(priced, currency) if currency else None
        return CartDTO(tuple(lines), total, sum(line.quantity for line in lines))

    async def mini_summary(self, session: AsyncSession, owner: CartOwner) -> CartSummaryDTO:
        """How many items are in ``owner``'s cart and what they cost now."""
        cart = await self.cart(session, owner)
        return CartSummaryDTO(item_count=cart.item_count, total=cart.total)

    # -- changing the cart --

    async def _checked_sellable(
        self, session: AsyncSession, kind: str, item_id: int, quantity: int
    ) -> SellableDTO:
        if kind not in KINDS:
            raise DomainError("unknown_kind", "That cannot be bought here.")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise DomainError(
                "invalid_quantity", f"Choose a quantity between 1 and {MAX_QUANTITY}."
            )
        found = (await self._sellables(session, {kind: [item_id]})).get((kind, item_id))
        if found is None or not found.available:
            title = found.title if found else "That item"
            raise ItemUnavailable(f"Sorry, {title} is not available any more.")
        if found.stock is not None and found.stock < quantity:
            raise ShortStock(found.title, found.stock)
        return found

    async def add(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int, quantity: int = 1
    ) -> CartLineDTO:
        """Put ``quantity`` more of an item in the cart (checked against what is left)."""
        if not 1 <= quantity <= MAX_QUANTITY:
            raise DomainError(
                "invalid_quantity", f"Choose a quantity between 1 and {MAX_QUANTITY}."
            )
        existing = await session.scalar(
            select(CartItem.quantity).where(
                _owner_filter(owner), CartItem.kind == kind, CartItem.item_id == item_id
            )
        )
        wanted = (existing or 0) + quantity
        if wanted > MAX_QUANTITY:
            raise DomainError(
                "invalid_quantity", f"At most {MAX_QUANTITY} of one item fit in a cart."
            )
        sellable = await self._checked_sellable(session, kind, item_id, wanted)
        await self._upsert(session, owner, kind, item_id, quantity, add=True)
        return CartLineDTO(
            kind,
            item_id,
            wanted,
            sellable.title,
            sellable.price,
            line_total(sellable.price, wanted),
            sellable.stock,
            sellable.url,
            sellable.image_url,
        )

    async def _upsert(
        self,
        session: AsyncSession,
        owner: CartOwner,
        kind: str,
        item_id: int,
        quantity: int,
        *,
        add: bool,
    ) -> None:
        stmt = insert(CartItem).values(
            user_id=owner.user_id,
            cart_key=owner.cart_key,
            kind=kind,
            item_id=item_id,
            quantity=quantity,
        )
        if owner.user_id is not None:
            elements, where = ["user_id", "kind", "item_id"], CartItem.user_id.is_not(None)
        else:
            elements, where = ["cart_key", "kind", "item_id"], CartItem.cart_key.is_not(None)
        new_quantity = (
            func.least(CartItem.quantity + stmt.excluded.quantity, MAX_QUANTITY)
            if add
            else stmt.excluded.quantity
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=elements,
                index_where=where,
                set_={"quantity": new_quantity, "updated_at": func.now()},
            )
        )

    async def set_quantity(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int, quantity: int
    ) -> None:
        """Set a line's quantity (0 removes it)."""
        if quantity == 0:
            await self.remove(session, owner, kind, item_id)
            return
        await self._checked_sellable(session, kind, item_id, quantity)
        result = await session.execute(
            update(CartItem)
            .where(_owner_filter(owner), CartItem.kind == kind, CartItem.item_id == item_id)
            .values(quantity=quantity, updated_at=func.now())
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("cart_line_not_found", "That is not in your cart.")

    async def remove(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int
    ) -> None:
        await session.execute(
            delete(CartItem).where(
                _owner_filter(owner), CartItem.kind == kind, CartItem.item_id == item_id
            )
        )

    async def merge(self, session: AsyncSession, cart_key: str, user_id: int) -> int:
        """Move an anonymous cart into the member's (quantities add up, capped); returns how
        many lines moved."""
        rows = (
            await session.execute(
                delete(CartItem)
                .where(CartItem.cart_key == cart_key)
                .returning(CartItem.kind, CartItem.item_id, CartItem.quantity)
            )
        ).all()
        member = CartOwner(user_id=user_id)
        for kind, item_id, quantity in sorted(rows):
            await self._upsert(session, member, kind, item_id, quantity, add=True)
        return len(rows)

    # -- checkout --

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
        if details.fulfilment not in ("collection", "delivery"):
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
            reserved_until=_now() + timedelta(seconds=ttl),
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
        await session.execute(delete(CartItem).where(_owner_filter(owner)))
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
            payment=_payment_dto(payments[-1]) if payments else None,
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
            payments=tuple(_payment_dto(payment) for payment in payments),
        )

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

    # -- payments --

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
            return _payment_dto(payment)
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
        return _payment_dto(payment)

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
                return _payment_dto(paid[0])  # the re-read found it paid: nothing to retry
            raise Conflict("order_not_payable", "This order is not awaiting payment.")
        live = [a for a in attempts if a.status not in SPENT_CHECKOUT]
        if live:
            # A checkout that can still be paid (or was): the buyer pays that one, never a
            # second.
            return _payment_dto(live[-1])
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
        return _payment_dto(payment)

    async def order_id_for_checkout(self, session: AsyncSession, checkout_id: str) -> int | None:
        return await session.scalar(
            select(Payment.order_id).where(Payment.checkout_id == checkout_id)
        )

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
            payment.checked_at = _now()
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
        order.paid_at = _now()
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
            line.fulfilled_at = _now()
        for kind, handed in sorted(by_kind.items()):
            await self.provider(kind).fulfil(session, handed)

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

    # -- the member's dashboard and personal data (MemberOrders, PersonalData) --

    async def dashboard_orders(
        self, session: AsyncSession, user_id: int, *, limit: int = 10
    ) -> tuple[MemberOrderDTO, ...]:
        """The member's most recent orders, newest first (one query)."""
        rows = await session.scalars(
            select(Order)
            .where(Order.user_id == user_id)
            .order_by(Order.id.desc())
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

    # -- receipt --

    def receipt_email(self, order: OrderDTO) -> Email:
        site = self.settings.site_name if self.settings else "Rose Ash"
        lines = [f"Thank you for your order at {site}.", "", f"Order {order.id}", ""]
        for line in order.lines:
            lines.append(
                f"  {line.quantity} x {line.title}  {line.unit_price}  = {line.line_total}"
            )
        lines += ["", f"Total paid: {order.total}"]
        if order.payment and order.payment.transaction_code:
            lines.append(f"SumUp transaction: {order.payment.transaction_code}")
        if order.fulfilment == "delivery":
            lines += ["", "Delivery to:", order.address]
        else:
            lines += ["", "Collection at the cooperative: we will tell you when it is ready."]
        # A member reads it in their account; a guest through the signed link.
        link = self.member_order_url(order.id) if order.user_id else self.order_url(order.id)
        lines += ["", f"Your order: {link}", ""]
        return Email(order.email, f"Your {site} order {order.id}", "\n".join(lines))

    async def _order_dto(self, session: AsyncSession, order_id: int) -> OrderDTO:
        found = await self.order(session, order_id)
        if found is None:
            raise NotFound("order_not_found", "No such order.")
        return found


def _payment_dto(payment: Payment) -> PaymentDTO:
    return PaymentDTO(
        status=payment.status,
        checkout_id=payment.checkout_id,
        hosted_url=payment.hosted_url,
        amount=Money(payment.amount_minor, payment.currency),
        transaction_id=payment.transaction_id,
        transaction_code=payment.transaction_code,
        last_error=payment.last_error,
        attempt=payment.attempt,
        created_at=payment.created_at,
    )
