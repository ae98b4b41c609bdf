"""What several domains share: money, page arithmetic, what the cart sells (and the lock
keys guarding it), and the capabilities a domain takes on as it grows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

# What guards a scarce count (stock, ticket capacity): ``(kind, id)``, e.g. ``("product", 42)``.
# A seller names its keys here; shared/infrastructure/locking.py takes the locks.
LockKey = tuple[str, int]


@dataclass(frozen=True, order=True)
class Money:
    """An amount in integer minor units (pence, cents) of an ISO 4217 currency; never a float.

    Sums and multiples are exact; adding two currencies is a programming error. Rounding,
    where a rule ever needs it (a percentage refund), is the cart's, in one place.
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("Money takes integer minor units")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot subtract {other.currency} from {self.currency}")
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __mul__(self, quantity: int) -> Money:
        return Money(self.amount_minor * quantity, self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def decimal_str(self) -> str:
        """``"12.50"``: the amount in major units as SumUp and forms write it (2 decimals)."""
        sign = "-" if self.amount_minor < 0 else ""
        major, minor = divmod(abs(self.amount_minor), 100)
        return f"{sign}{major}.{minor:02d}"

    def __str__(self) -> str:
        symbol = CURRENCY_SYMBOLS.get(self.currency)
        if symbol is None:
            return f"{self.decimal_str()} {self.currency}"
        if self.amount_minor < 0:
            return f"-{symbol}{Money(-self.amount_minor, self.currency).decimal_str()}"
        return f"{symbol}{self.decimal_str()}"


CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


class Paginated:
    """Page arithmetic for a listing dataclass with ``page``, ``per_page`` and ``total``."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass(frozen=True)
class SellableDTO:
    """Something a domain sells through the cart (a product, a ticket type), as it is now:
    the cart re-reads this at checkout and never trusts a price from the browser.

    ``stock`` is how many are left (None: unlimited); ``available`` is False when it cannot be
    bought at all (withdrawn, sold out, an event that has passed).
    """

    kind: str  # "product" (CatalogService) or "ticket" (EventService)
    id: int
    title: str
    price: Money
    available: bool
    stock: int | None
    url: str
    image_url: str | None = None
    unit: str = "each"
    # Something to collect or deliver (a product); False: nothing to hand over (a ticket),
    # and an order of such things only asks for neither.
    physical: bool = True


@dataclass(frozen=True)
class FulfilmentLine:
    """An order line that has been paid, handed to the domain that sold it (tickets are
    issued then). ``order_line_id`` makes fulfilment idempotent."""

    order_id: int
    order_line_id: int
    item_id: int
    quantity: int
    buyer_user_id: int | None
    buyer_email: str
    buyer_name: str


class SellableProvider(Protocol):
    """What a domain that sells through the cart implements (the catalogue for kind
    ``"product"``, events for kind ``"ticket"``: ids are product ids and ticket-type ids).

    Taking stock is always: collect the keys of every item of every provider in the order
    (:meth:`lock_keys`), lock them all at once with
    :func:`shared.infrastructure.locking.lock_objects`, then :meth:`reserve` per provider, in
    the same transaction. :meth:`reserve` refuses (and changes nothing) without those locks.
    """

    async def sellables(self, session: AsyncSession, ids: Iterable[int]) -> dict[int, SellableDTO]:
        """The current price, availability and stock of each known id (unknown ids are absent)."""
        ...

    async def lock_keys(self, session: AsyncSession, ids: Iterable[int]) -> list[LockKey]:
        """The lock keys guarding the scarce counts behind these ids."""
        ...

    async def reserve(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Take ``quantities`` (id -> how many) from the counts, all or nothing.

        Raises :class:`~shared.contracts.errors.Unavailable` or
        :class:`~shared.contracts.errors.SoldOut` and changes nothing when any cannot be had.
        """
        ...

    async def release(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Give back what :meth:`reserve` took (an unpaid order expired or was cancelled)."""
        ...

    async def fulfil(self, session: AsyncSession, lines: Sequence[FulfilmentLine]) -> None:
        """The order was paid: do what the sale means (tickets are issued); idempotent per
        ``order_line_id``."""
        ...


# --- capabilities a domain takes on as it grows -----------------------------------------
#
# The account app's dashboard, data export and erasure, and newsletter digests ask other
# domains for these. A domain offers one by implementing its methods (exactly these
# signatures; tests/contracts/test_contracts.py checks any implementation it finds); callers
# check with :func:`implements` and leave their part out until then, so they work before and
# after the domain lands.


@dataclass(frozen=True)
class MemberOrderDTO:
    """One of a member's orders, as their dashboard lists it (the cart owns the detail)."""

    id: int
    reference: str
    status: str
    total: Money
    placed_at: datetime
    url: str


@dataclass(frozen=True)
class MemberTicketDTO:
    """A member's upcoming ticket or booking (``kind``), with its QR code image and
    iCalendar links (the events app serves both)."""

    id: int
    kind: str
    event_title: str
    starts_at: datetime
    url: str
    qr_url: str | None = None
    ics_url: str | None = None


@dataclass(frozen=True)
class EventSummaryDTO:
    """An upcoming public event, as a newsletter digest lists it."""

    title: str
    starts_at: datetime
    url: str
    summary: str = ""


@dataclass(frozen=True)
class PersonalDataDTO:
    """What one domain holds about a member, for their export: JSON-ready values only
    (strings, numbers, booleans, None, ISO dates, lists and mappings of those)."""

    domain: str
    data: Mapping[str, Any]


class MemberOrders(Protocol):
    """A member's orders for their dashboard (the cart)."""

    async def dashboard_orders(
        self, session: AsyncSession, user_id: int, *, limit: int = 10, offset: int = 0
    ) -> tuple[MemberOrderDTO, ...]:
        """The member's orders, newest first: ``limit`` of them (at most 100) after the first
        ``offset``."""
        ...


class MemberTickets(Protocol):
    """A member's tickets and bookings, to come and past, for their account (events)."""

    async def upcoming_for_member(
        self, session: AsyncSession, user_id: int, *, limit: int = 10
    ) -> tuple[MemberTicketDTO, ...]:
        """The member's tickets and bookings for events still to come, soonest first."""
        ...

    async def past_for_member(
        self, session: AsyncSession, user_id: int, *, limit: int = 50
    ) -> tuple[MemberTicketDTO, ...]:
        """The member's tickets and bookings for events that have ended, latest first."""
        ...


class UpcomingEvents(Protocol):
    """Public events still to come, for newsletter digests (events)."""

    async def upcoming_public(
        self, session: AsyncSession, *, limit: int = 5
    ) -> tuple[EventSummaryDTO, ...]:
        """The next public events, soonest first."""
        ...


class PersonalData(Protocol):
    """What a domain holding personal data contributes to a member's export and erasure.

    ``erase_member`` removes or anonymises what the domain holds about the member (records
    kept by law, such as orders, keep their amounts with the person's details removed); it
    runs in the same transaction as every other domain's, before the account itself is
    anonymised."""

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """Everything the domain holds about the member, JSON-ready."""
        ...

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Remove or anonymise it (``email``: the account's address, for records kept by
        address)."""
        ...


CAPABILITIES: tuple[type, ...] = (MemberOrders, MemberTickets, UpcomingEvents, PersonalData)


def implements(impl: object, capability: type) -> bool:
    """Whether ``impl`` offers every method of ``capability`` (one of :data:`CAPABILITIES`)."""
    return all(
        callable(getattr(impl, name, None))
        for name, value in vars(capability).items()
        if callable(value) and not name.startswith("_")
    )
