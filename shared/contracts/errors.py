"""The domain errors that are part of a contract: callers catch these (and read ``code``).

Each carries a stable machine ``code`` (see :mod:`shared.errors`); a route that must react to
one particular refusal catches its class here, never an implementation module's.
"""

from __future__ import annotations

from shared.contracts.identity import AccountDTO
from shared.contracts.market import CsvRowError
from shared.errors import DomainError


class IdentityError(DomainError):
    """A refusal from the identity domain (see ``code``)."""


class InvalidSignUp(IdentityError):
    """A sign-up form with bad fields; ``errors`` maps each field to what is wrong with it
    (every problem at once, so the form can show each beside its field)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid_sign_up", next(iter(errors.values()), "Please check the form."))
        self.errors = errors


class EmailUnverified(IdentityError):
    """The password was right but the address is not verified yet; carries the account so
    the caller can send a fresh link."""

    def __init__(self, account: AccountDTO) -> None:
        super().__init__(
            "email_unverified",
            "Please verify your email address first: we have sent you a new link.",
        )
        self.account = account


class InvalidPost(DomainError):
    """Bad editor or sync input for a post or page; ``field`` names what to fix."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(code, message)
        self.field = field


class InvalidNavItem(DomainError):
    """Bad input for a navigation link; ``field`` names what to fix."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(code, message)
        self.field = field


class SoldOut(DomainError):
    """Fewer left than asked for: ``left`` maps each short item id to how many remain (0 when
    none); nothing was reserved."""

    def __init__(self, kind: str, left: dict[int, int]) -> None:
        super().__init__(
            "sold_out", "Sorry, there are not enough left of something you asked for.", status=409
        )
        self.kind = kind
        self.left = left


class Unavailable(DomainError):
    """Items that cannot be bought at all any more (withdrawn, unknown); nothing was reserved."""

    def __init__(self, kind: str, ids: list[int]) -> None:
        super().__init__(
            "unavailable", "Sorry, something you asked for is no longer available.", status=409
        )
        self.kind = kind
        self.ids = ids


class InvalidCatalogInput(DomainError):
    """Staff input for a supplier, category, product or market page that cannot be stored;
    ``errors`` maps each field to what is wrong with it (every problem at once)."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors.values()), "Please check the form.")
        super().__init__("invalid_catalog_input", first)
        self.errors = errors
        self.field = next(iter(errors), None)


class CsvImportRefused(DomainError):
    """An imported CSV file with bad rows (or no usable shape at all): nothing was written.

    ``rows`` lists each refused line and why (``CsvRowError``)."""

    def __init__(self, message: str, rows: tuple[CsvRowError, ...] = ()) -> None:
        super().__init__("csv_refused", message)
        self.rows = rows


class InvalidScrapeSource(DomainError):
    """A supplier's scrape source that cannot be saved; ``field`` names the form field."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(code, message)
        self.field = field


# --- the cart ----------------------------------------------------------------------------


class CheckoutInvalid(DomainError):
    """Checkout fields missing or malformed: ``errors`` maps each to what is wrong with it
    (every problem at once); ``code`` and ``field`` are the first's."""

    def __init__(
        self, code: str, message: str, field: str, errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(code, message)
        self.field = field
        self.errors = errors if errors else {field: message}


class InvalidEvent(DomainError):
    """Bad staff input for a calendar, an event, an exception or a ticket type; ``field``
    names what to fix."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(code, message)
        self.field = field


class PaymentUnavailable(DomainError):
    """SumUp cannot be reached or refused: nothing was paid or refunded; try again later."""

    status = 503


class ShortStock(DomainError):
    """Fewer left than asked for; ``left`` is how many there are."""

    status = 409

    def __init__(self, title: str, left: int) -> None:
        message = (
            f"Sorry, only {left} of {title} left." if left > 0 else f"Sorry, {title} is sold out."
        )
        super().__init__("short_stock" if left > 0 else "sold_out", message)
        self.left = left


class ItemUnavailable(DomainError):
    """The item cannot be bought at all any more (withdrawn, unknown)."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


class NewsletterError(DomainError):
    """A refused newsletter change (subscribing, writing or sending an issue); ``field``
    names the form field to fix, when there is one."""

    def __init__(
        self, code: str, message: str, field: str | None = None, status: int = 400
    ) -> None:
        super().__init__(code, message, status=status)
        self.field = field


class InvalidUpload(DomainError):
    """A refused upload (not an image, too large, too many pixels); ``field`` names the form
    field. Too many bytes answers 413, anything else 400."""

    def __init__(self, code: str, message: str, field: str, status: int = 400) -> None:
        super().__init__(code, message, status=status)
        self.field = field
