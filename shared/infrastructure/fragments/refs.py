"""What a page asks for: a fragment by reference (:class:`FragmentRef`), the header's
fragments, the page's own shared parts (:class:`SharedPart`), and the Redis names of their
copies and versions."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.config import APP_NAMES
from shared.infrastructure import pagecache
from shared.infrastructure.visitor import Visitor

ROUTE = "/internal/fragments/<type>"
KEY_PREFIX = "rose:frag:"
PART_PREFIX = "rose:part:"
VERSION_PREFIX = "rose:fragver:"
LOCK_PREFIX = "rose:fraglock:"
TYPE_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class FragmentRef:
    """One fragment a page asks for; ``name`` is its slot in the template (default: its id)."""

    app: str
    type: str
    args: tuple[tuple[str, str], ...] = ()
    name: str = ""

    @classmethod
    def of(cls, fragment_id: str, *, name: str = "", **args: str) -> FragmentRef:
        app, _, type = fragment_id.partition("/")
        return cls(app, type, tuple(sorted(args.items())), name)

    def __post_init__(self) -> None:
        if self.app not in APP_NAMES or not TYPE_RE.match(self.type):
            raise ValueError(f"not a fragment: {self.app}/{self.type}")

    @property
    def id(self) -> str:
        return f"{self.app}/{self.type}"

    @property
    def slot(self) -> str:
        return self.name or self.id


def header_fragments(app_name: str, *, cart: bool = True) -> tuple[FragmentRef, ...]:
    """The fragments of the header every app shows (shared/templates/_header.html); without
    ``cart`` when the page leaves its mini cart to the browser (pagecache.cart_deferred)."""
    return (
        FragmentRef.of("blog/nav", current=app_name),
        *((FragmentRef.of("cart/mini"),) if cart else ()),
        FragmentRef.of("account/menu"),
        FragmentRef.of("federation/notifications"),
    )


@dataclass(frozen=True)
class SharedPart:
    """A part of a page that the page's own app renders and that is the same for everyone in
    one audience (the blog home's listing for signed-in members, say): rendered once, kept in
    Redis until a domain it shows changes, and read in the page's one ``MGET`` with the
    fragments, so a page whose parts and fragments are cached runs no query for them.

    ``key`` names the part *and its audience* (``blog/home:member:page=2``); None renders it
    for this request alone (an editor, who may be shown what others are not). Whoever builds a
    part vouches that ``render`` puts nothing personal in it: no name, no CSRF token, no cart.
    A copy records the versions of ``domains`` (``rose:pagever:<domain>``, bumped on commit,
    see :mod:`shared.infrastructure.pagecache`) read *before* it was rendered, and lives at
    most ``pagecache.ttl_s`` (for writes no version sees); parts are off with the page cache.
    """

    slot: str
    key: str | None
    domains: tuple[str, ...]
    render: Callable[[], Awaitable[str]]

    @property
    def storage_key(self) -> str:
        return f"{PART_PREFIX}{self.key}"

    def redis_keys(self) -> list[str]:
        return [self.storage_key, *(pagecache.version_key(d) for d in self.domains)]


def version_key(fragment_id: str, owner: Visitor | None = None) -> str:
    """The key of the fragment's version (of its owner's, for a per-user fragment)."""
    base = VERSION_PREFIX + fragment_id
    return base if owner is None else f"{base}:{owner.scope()}"
