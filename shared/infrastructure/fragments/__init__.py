"""Fragments: the parts of a page that another app renders (the header's navigation, cart, menu).

**Providing.** An app declares each fragment with its cache TTL and whether it varies per user
(both required), and installs them at ``GET /internal/fragments/<type>``::

    fragments = FragmentSet("cart")

    @fragments.fragment("mini", ttl_s=60, per_user=True)
    async def mini(req: FragmentRequest) -> str:
        ...  # req.visitor: the signed acting user; req.args: the query arguments

    fragments.install(app)

Requests must be signed (:mod:`shared.infrastructure.internal_auth`). A fragment that does
not vary per user is always rendered for an anonymous visitor, whoever asked, so a copy shared
by everyone can never contain anyone's data. The answer carries the declaration to the
consumer: ``Cache-Control: max-age=<ttl>`` and, for per-user fragments, ``Vary: X-Rose-Visitor``.

**Consuming.** A page asks for all its fragments at once — :func:`render_page` does it for the
shared header — and templates place them with ``{{ fragment("cart/mini") }}``:

* one ``MGET`` reads every cached copy *and* the version keys they must match, so a page whose
  fragments are cached costs exactly one Redis round trip;
* the missing ones are fetched concurrently over each app's internal URL with one
  ``httpx.AsyncClient`` per process, each fetch bounded by ``fragments.timeout_s`` — except the
  app's own fragments that do not vary per user, which its handler renders in-process, in a
  context of its own, for nobody in particular (decision 0104);
* one fetch per key at a time: concurrent pages in a process share one fetch, and across
  processes a short Redis lock (``SET NX PX``) elects one fetcher while the others show the
  last good copy (or wait for the fresh one, within the same budget);
* fresh copies are stored for their declared TTL inside an entry Redis keeps much longer
  (``fragments.last_good_ttl_s``): the stale remainder is the "last good copy" shown while the
  providing app is down, slow or failing. Failures are logged once per outage, and the failing
  app is left alone for ``fragments.retry_after_s`` so a hung app does not slow every page;
* when Redis is down pages still render: fragments are fetched directly (Redis is left alone
  for ``retry_after_s`` too).

**Shared parts** (:class:`SharedPart`) are the page's own pieces that are the same for everyone
of an audience — the blog home's listing for signed-in members, say, which is what costs the
page its queries. The page names them with its fragments; their stored copies and the domain
versions they must match (``rose:pagever:<domain>``, as the page cache uses) are read in the
same ``MGET``, so a member's page whose parts and fragments are cached costs that one round trip
(besides the sign-in check) and no SQL. A missing or outdated part is rendered — once per
process at a time — and stored for at most ``pagecache.ttl_s``; with Redis down it is simply
rendered. Its template gets no ``request``, ``session`` or ``g`` (:func:`render_part`), and its
key names its audience, never a person: editors, who may see more, get theirs rendered alone.

**Invalidation** is by version, never by scanning keys: a cached copy records the versions it
was rendered under (the fragment's, plus the owner's for per-user fragments); a domain change
increments the version (:func:`invalidate_after_commit`) and every older copy stops matching.
The versions travel in the page's one ``MGET``, so checking them costs no extra round trip.

The package: :mod:`.refs` (what a page asks for, and the keys of cached copies),
:mod:`.provider` (serving), :mod:`.client` (fetching and caching), :mod:`.page` (in a
request), :mod:`.invalidation` (outdating copies).
"""

from __future__ import annotations

from shared.infrastructure.fragments.client import FragmentClient
from shared.infrastructure.fragments.invalidation import invalidate, invalidate_after_commit
from shared.infrastructure.fragments.page import (
    client,
    fragment,
    install,
    page_fragments,
    partial_page_requested,
    render_page,
    render_part,
)
from shared.infrastructure.fragments.provider import (
    FragmentRequest,
    FragmentSet,
    FragmentSpec,
    is_fragment_view,
    provided_fragments,
)
from shared.infrastructure.fragments.refs import (
    PART_PREFIX,
    ROUTE,
    FragmentRef,
    SharedPart,
    header_fragments,
)

__all__ = [
    "PART_PREFIX",
    "ROUTE",
    "FragmentClient",
    "FragmentRef",
    "FragmentRequest",
    "FragmentSet",
    "FragmentSpec",
    "SharedPart",
    "client",
    "fragment",
    "header_fragments",
    "install",
    "invalidate",
    "invalidate_after_commit",
    "is_fragment_view",
    "page_fragments",
    "partial_page_requested",
    "provided_fragments",
    "render_page",
    "render_part",
]
