"""Who is acting in a request: the one hook between sign-in and everything that asks "who is this".

Two values, both kept on Quart's ``g`` for the current request:

* ``g.user_id`` — the signed-in member's id. The identity layer (single sign-on, built in its
  own issue) sets it with :func:`set_current_user` once it has checked the session.
* ``g.cart_key`` — an anonymous visitor's cart key. The cart layer sets it with
  :func:`set_cart_key` from its signed cookie.

Until those land nothing sets them, so every visitor is anonymous. Everything else — the
fragment consumer, which signs the acting user into internal requests, and per-user fragments
— asks :func:`current_visitor` and never reads a session or cookie itself.

On the providing side of an internal request the visitor comes from the request's signature,
never from ``g.user_id`` (see :mod:`shared.infrastructure.internal_auth`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from quart import g

# Cart keys are random tokens chosen by the cart layer; anything else is refused rather than
# carried into a signature or a cache key.
CART_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class InvalidVisitor(ValueError):
    """A user id or cart key that cannot be a visitor."""


@dataclass(frozen=True)
class Visitor:
    """The acting member, or else the anonymous visitor's cart key, or nobody in particular.

    A signed-in member is identified by ``user_id`` alone: the cart key only identifies
    visitors who have not signed in.
    """

    user_id: int | None = None
    cart_key: str | None = None

    def __post_init__(self) -> None:
        if self.user_id is not None:
            if isinstance(self.user_id, bool) or not isinstance(self.user_id, int):
                raise InvalidVisitor(f"user id must be an integer, got {self.user_id!r}")
            if self.user_id <= 0:
                raise InvalidVisitor(f"user id must be positive, got {self.user_id}")
            if self.cart_key is not None:
                raise InvalidVisitor("a visitor is a member or a cart key, not both")
        if self.cart_key is not None and not CART_KEY_RE.match(self.cart_key):
            raise InvalidVisitor("malformed cart key")

    @property
    def anonymous(self) -> bool:
        return self.user_id is None and self.cart_key is None

    def header(self) -> str:
        """The visitor as carried (and signed) in an internal request."""
        if self.user_id is not None:
            return f"u:{self.user_id}"
        if self.cart_key is not None:
            return f"c:{self.cart_key}"
        return "-"

    @classmethod
    def from_header(cls, value: str) -> Visitor:
        """Parse :meth:`header`'s output; :class:`InvalidVisitor` for anything else."""
        if value == "-":
            return cls()
        kind, sep, rest = value.partition(":")
        if sep and kind == "u" and rest.isascii() and rest.isdigit() and not rest.startswith("0"):
            return cls(user_id=int(rest))
        if sep and kind == "c":
            return cls(cart_key=rest)
        raise InvalidVisitor(f"malformed visitor {value[:40]!r}")

    def scope(self) -> str:
        """A short name for cache keys; a cart key (a bearer secret) is hashed, never stored."""
        if self.user_id is not None:
            return f"u{self.user_id}"
        if self.cart_key is not None:
            return "c" + hashlib.sha256(self.cart_key.encode()).hexdigest()[:32]
        return "anon"


ANONYMOUS = Visitor()


def set_current_user(user_id: int | None) -> None:
    """Called by the identity layer once the request's session is verified."""
    g.user_id = user_id


def set_cart_key(cart_key: str | None) -> None:
    """Called by the cart layer with the verified anonymous cart key from its cookie."""
    g.cart_key = cart_key


def current_user_id() -> int | None:
    """The signed-in member of this request, or None."""
    value = g.get("user_id")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def current_cart_key() -> str | None:
    value = g.get("cart_key")
    return value if isinstance(value, str) else None


def current_visitor() -> Visitor:
    """The acting member, or the anonymous visitor's cart key, or :data:`ANONYMOUS`."""
    user_id = current_user_id()
    if user_id is not None:
        return Visitor(user_id=user_id)
    cart_key = current_cart_key()
    if cart_key is not None and CART_KEY_RE.match(cart_key):
        return Visitor(cart_key=cart_key)
    return ANONYMOUS
