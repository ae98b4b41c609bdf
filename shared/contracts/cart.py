"""The cart's contract: carts, checkout, orders and their SumUp payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.common import Money


@dataclass(frozen=True)
class CartOwner:
    """Whose cart: a member, or an anonymous visitor's cart key — exactly one of them."""

    user_id: int | None = None
    cart_key: str | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.cart_key is None):
            raise ValueError("a cart belongs to a member or to a cart key, exactly one")


@dataclass(frozen=True)
class CartSummaryDTO:
    """What the header shows of a cart: how many items and what they cost now (None when
    empty)."""

    item_count: int
    total: Money | None = None


@dataclass(frozen=True)
class CartLineDTO:
    """A cart line as it can be bought now: the owning domain's current title, price and
    stock. ``problem`` is ``"unavailable"`` (cannot be bought at all) or ``"short"`` (fewer
    left than asked: ``stock`` says how many), else None."""

    kind: str
    item_id: int
    quantity: int
    title: str
    unit_price: Money | None
    line_total: Money | None
    stock: int | None
    url: str
    image_url: str | None = None
    problem: str | None = None
    physical: bool = True  # something to collect or deliver (SellableDTO.physical)


@dataclass(frozen=True)
class CartDTO:
    lines: tuple[CartLineDTO, ...]
    total: Money | None
    item_count: int

    @property
    def can_check_out(self) -> bool:
        return bool(self.lines) and all(line.problem is None for line in self.lines)

    @property
    def needs_fulfilment(self) -> bool:
        """Whether checkout asks how to hand the order over (collection or delivery): only
        when something in it is physical (tickets are not)."""
        return any(line.physical for line in self.lines)


@dataclass(frozen=True)
class CheckoutDetails:
    """What the buyer tells the checkout (already checked by the service)."""

    email: str
    name: str
    fulfilment: str  # "collection" | "delivery" | "none" (nothing physical in the cart)
    phone: str = ""
    address: str = ""
    notes: str = ""


@dataclass(frozen=True)
class OrderLineDTO:
    id: int
    kind: str
    item_id: int
    title: str
    unit_price: Money
    quantity: int
    line_total: Money
    url: str


@dataclass(frozen=True)
class PaymentDTO:
    """The order's SumUp checkout as last read from SumUp."""

    status: str  # NEW (not created yet) | PENDING | PAID | FAILED | EXPIRED
    checkout_id: str | None
    hosted_url: str
    amount: Money
    transaction_id: str | None
    transaction_code: str | None
    last_error: str
    # Which attempt this checkout is (a new one after SumUp reported FAILED or EXPIRED).
    attempt: int = 1
    created_at: datetime | None = None


@dataclass(frozen=True)
class RefundDTO:
    id: int
    amount: Money
    transaction_id: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class OrderSummaryDTO:
    """An order in a list (account, staff admin)."""

    id: int
    status: str
    total: Money
    item_count: int
    email: str
    name: str
    created_at: datetime
    needs_attention: bool


@dataclass(frozen=True)
class OrderDTO:
    id: int
    user_id: int | None
    status: str
    email: str
    name: str
    phone: str
    fulfilment: str
    address: str
    notes: str
    total: Money
    refunded: Money
    created_at: datetime
    paid_at: datetime | None
    reserved_until: datetime | None
    needs_attention: bool
    attention_reason: str
    lines: tuple[OrderLineDTO, ...]
    payment: PaymentDTO | None
    refunds: tuple[RefundDTO, ...]
    # Every payment attempt, oldest first (``payment`` is the latest).
    payments: tuple[PaymentDTO, ...] = ()

    @property
    def refundable(self) -> Money:
        return self.total - self.refunded

    @property
    def awaiting_payment(self) -> bool:
        return self.status == "pending_payment"


@dataclass(frozen=True)
class SyncOutcome:
    """What a re-read of a checkout did: ``paid`` (this call marked the order paid),
    ``unchanged``, ``unknown`` (no such checkout of ours), ``flagged`` (mismatch, staff)."""

    result: str
    order_id: int | None = None


class CartService(Protocol):
    """Carts, checkout and orders (the cart app)."""

    async def mini_summary(self, session: AsyncSession, owner: CartOwner) -> CartSummaryDTO:
        """How many items are in ``owner``'s cart and what they cost now."""
        ...

    async def cart(self, session: AsyncSession, owner: CartOwner) -> CartDTO:
        """``owner``'s cart at today's prices and stock, each line's problem named."""
        ...

    async def add(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int, quantity: int = 1
    ) -> CartLineDTO:
        """Put more of an item in the cart; refuses (``unavailable``, ``short_stock``,
        ``sold_out``, ``invalid_quantity``) and changes nothing when it cannot be had."""
        ...

    async def set_quantity(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int, quantity: int
    ) -> None:
        """Set a line's quantity (0 removes it), checked against what is left."""
        ...

    async def remove(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int
    ) -> None: ...

    async def merge(self, session: AsyncSession, cart_key: str, user_id: int) -> int:
        """Move an anonymous visitor's cart into the member's at sign-in."""
        ...

    async def place_order(
        self,
        session: AsyncSession,
        owner: CartOwner,
        details: CheckoutDetails,
        *,
        reservation_ttl_s: int | None = None,
    ) -> OrderDTO:
        """Reserve every line (one set of locks), snapshot them into a pending order, empty
        the cart; all or nothing."""
        ...

    async def order(self, session: AsyncSession, order_id: int) -> OrderDTO | None: ...

    async def orders_for_member(self, session: AsyncSession, user_id: int) -> list[OrderSummaryDTO]:
        """The member's orders, newest first (for account)."""
        ...

    async def order_for_member(
        self, session: AsyncSession, user_id: int, order_id: int
    ) -> OrderDTO | None:
        """The member's own order; None for another member's (or none)."""
        ...

    async def unpaid_orders(self, session: AsyncSession, owner: CartOwner) -> list[OrderSummaryDTO]:
        """The orders this visitor (member, or guest's cart key) placed that await payment."""
        ...

    # -- guest links to an order (the receipt's) --

    def order_token(self, order_id: int) -> str: ...

    def check_order_token(self, order_id: int, token: str) -> bool: ...

    # -- payments (SumUp; docs/EXTERNAL-APIS.md) --

    async def ensure_checkout(
        self,
        session: AsyncSession,
        order_id: int,
    ) -> PaymentDTO:
        """The order's SumUp checkout, created if needed (reference = order id; a 409 is
        recovered by lookup). Raises ``payment_unavailable`` (503) when SumUp cannot be
        reached: the order stays reserved and pending."""
        ...

    async def order_id_for_checkout(
        self, session: AsyncSession, checkout_id: str
    ) -> int | None: ...

    async def sync_payment(self, session: AsyncSession, order_id: int) -> SyncOutcome:
        """Re-read the checkout from SumUp and act on it: the only path to "paid". Raises
        :class:`shared.services.cart.sumup.SumUpError` when SumUp cannot be read."""
        ...

    async def due_for_poll(
        self, session: AsyncSession, now: datetime, interval_s: int, limit: int = 50
    ) -> list[int]: ...

    async def due_for_expiry(
        self, session: AsyncSession, now: datetime, limit: int = 50
    ) -> list[int]: ...

    async def expire_one(self, session: AsyncSession, order_id: int, now: datetime) -> bool:
        """Give an unpaid order's stock back once its reservation has run out."""
        ...

    # -- staff --

    async def admin_orders(
        self,
        session: AsyncSession,
        *,
        status: str | None = None,
        attention: bool = False,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[OrderSummaryDTO]: ...

    async def mark_fulfilled(
        self, session: AsyncSession, order_id: int, *, by_user_id: int | None
    ) -> None: ...

    async def cancel(
        self, session: AsyncSession, order_id: int, *, by_user_id: int | None
    ) -> None: ...

    async def clear_attention(
        self, session: AsyncSession, order_id: int, *, by_user_id: int | None
    ) -> None: ...

    async def refund(
        self,
        session: AsyncSession,
        order_id: int,
        amount: Money,
        *,
        reason: str = "",
        by_user_id: int | None,
    ) -> RefundDTO:
        """Refund (part of) a paid order through SumUp, recorded per transaction."""
        ...

    async def retry_checkout(self, session: AsyncSession, order_id: int) -> PaymentDTO:
        """The checkout the buyer should pay now: a new attempt (reference
        ``<order id>-<attempt>``) only when SumUp, re-read first, reports every earlier one
        FAILED or EXPIRED; otherwise the current one (or the order is paid by the re-read).
        Refuses (``order_not_payable``, ``too_many_attempts``) for an order it cannot pay."""
        ...

    def order_url(self, order_id: int, *, token: bool = True) -> str:
        """The order's page in the cart app (where it is paid); ``token`` adds the link token
        that lets a guest open it."""
        ...

    def member_order_url(self, order_id: int) -> str:
        """Where a member reads their order: its page in the account app."""
        ...
