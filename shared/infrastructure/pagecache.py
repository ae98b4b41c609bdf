"""A full-page cache for anonymous visitors, invalidated by version, answered in one Redis call.

Most of the site's traffic is people who are not signed in reading the same pages. For them
a page that opted in with :func:`cacheable_page` is rendered once and then served from Redis
until something it shows changes:

* **What a page depends on** is recorded when it is rendered: the version numbers of the
  domains it declares (``@cacheable_page("blog")``) and of every fragment it composed. They are
  stored with the page.
* **Versions move on commit.** Every ORM write is attributed to its domain (the model's module:
  ``shared.models.blog`` is ``"blog"``); when the transaction commits, each touched domain's
  version is incremented (``rose:pagever:<domain>``). Requests do it before answering; the
  worker and CLI commands do it right after their commit. Fragments bump their own versions
  (:func:`shared.infrastructure.fragments.invalidate`). A write made with raw SQL is not seen:
  such a page then lives at most ``pagecache.ttl_s``.
* **Serving** happens in front of Quart (an ASGI layer in :class:`PageCache`): one ``EVALSHA``
  reads the stored page and compares its recorded versions with the current ones inside Redis,
  so a hit costs one round trip and none of the app's request machinery. ``ETag`` and
  ``If-None-Match`` give a 304 to a browser that has the page already.
  Visitors who miss a page that another request of the same process is rendering wait for
  that render (at most ``RENDER_WAIT_S``) and get its copy: one render, not a stampede.

Who is anonymous is decided from the cookies the app reads (:class:`VisitorCookies`, decision
0091), the way the app would read them (werkzeug's parser; a name sent twice is nobody's):

* the sign-on marker and federation's sign-in generation carry no identity, unless together
  they say a silent sign-on check is due: a browser's page load then passes through, so the
  check happens (decisions 0071, 0092);
* the app's session carries none while it holds only sign-on state and a CSRF token (checked
  with the app's own signing key): such a request is served from the cache, but what is
  rendered for it is never stored (a page may show that session's token without setting a
  cookie); anything else in it — a member's sign-in — passes through untouched;
* the anonymous cart key makes a second audience, ``cart``: its pages are cached apart, rendered
  as for nobody with the header's mini cart left as a placeholder that htmx fills from the
  app's ``/cart-mini`` (:func:`cart_deferred`), so the page is shared and the count is the
  visitor's own;
* the other apps' session and marker cookies (which reach every app when they share a host)
  are never read here; any other cookie, an ``Authorization`` header or an identity header a
  test installs makes the request somebody's: never served from nor stored in the cache; so
  does the signature of an internal request between the apps (a fragment is not a page).

A response that sets a cookie, is ``private``, or is not a 200 HTML page is never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import redis.asyncio as aioredis
from itsdangerous import BadSignature
from quart import g, has_request_context, make_response, request
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from werkzeug.http import parse_cookie

from shared.infrastructure import internal_auth, metrics
from shared.infrastructure.boost import BOOST_HEADERS, is_htmx, wants_partial
from shared.infrastructure.context import REQUEST_SESSION, redis_client
from shared.infrastructure.logs import new_request_id
from shared.infrastructure.visitor import set_cart_key

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

VERSION_PREFIX = "rose:pagever:"
ENTRY_PREFIX = "rose:page:"
# The response header a cacheable view sets for the ASGI layer (never sent to the browser).
DEPS_HEADER = "x-rose-page-deps"
SCOPE_KEY = "rose.pagecache"
# The audience a page passed through for storing is rendered for (scope key; "cart" or absent).
AUDIENCE_KEY = "rose.pagecache.audience"
CART_AUDIENCE = "cart"
MAX_BODY_BYTES = 1_000_000
# How long a request that misses a page another request is rendering waits for that render.
RENDER_WAIT_S = 2.0
_DIRTY = "rose.pagecache.dirty"
_COMMITTED = "rose.pagecache.committed"
ACTIVITYPUB_HINTS = ("activity+json", "ld+json")

# Compares the stored page's versions with the current ones, inside Redis.
_LOOKUP = """
local e = redis.call('HMGET', KEYS[1], 'deps', 'etag', 'head', 'body')
if not e[1] then return false end
for k, v in pairs(cjson.decode(e[1])) do
  local current = redis.call('GET', k)
  if not current then current = '0' end
  if current ~= v then return false end
end
if ARGV[1] ~= '' and ARGV[1] == e[2] then return {e[2], e[3]} end
return {e[2], e[3], e[4]}
"""


def version_key(domain: str) -> str:
    return f"{VERSION_PREFIX}{domain}"


# --- what a page depends on -----------------------------------------------------------


def cacheable_page(*domains: str) -> Callable[[F], F]:
    """Let anonymous visitors be served this view's page from the cache until one of
    ``domains`` (or a fragment it shows) changes."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if SCOPE_KEY not in request.scope:
                return await view(*args, **kwargs)
            if request.scope.get(AUDIENCE_KEY) == CART_AUDIENCE:
                # Stored for every visitor with a cart: rendered as for nobody, the mini cart
                # left for the visitor's browser to fill (see cart_deferred).
                set_cart_key(None)
                g._cart_deferred = True
            keys = [version_key(d) for d in domains]
            try:
                before = await redis_client().mget(keys) if keys else []
            except (RedisError, OSError, TimeoutError):
                return await view(*args, **kwargs)
            response = await make_response(await view(*args, **kwargs))
            deps = {k: version_text(v) for k, v in zip(keys, before, strict=True)}
            if g.get("_page_uncacheable"):
                return response  # Redis could not say what its fragments were read under
            deps.update(g.get("_page_fragment_versions", {}))
            response.headers[DEPS_HEADER] = json.dumps(deps, separators=(",", ":"))
            return response

        return wrapper  # type: ignore[return-value]

    return decorate


def cart_deferred() -> bool:
    """Whether this page is rendered for everyone with a cart: the header's mini cart is then
    a placeholder their browser fills (``GET /cart-mini``), not anybody's count."""
    return bool(has_request_context() and g.get("_cart_deferred"))


def version_text(value: bytes | str | None) -> str:
    """A version key's value as Redis returned it, as text ("0" for a key never bumped)."""
    if value is None:
        return "0"
    return value.decode() if isinstance(value, bytes) else value


def record_fragment_versions(versions: dict[str, int] | None) -> None:
    """Called by the fragment client: the versions a page's fragments were read under
    (None: Redis could not say, so the page must not be cached)."""
    if not has_request_context():
        return
    if versions is None:
        g._page_uncacheable = True
        return
    recorded: dict[str, str] = g.setdefault("_page_fragment_versions", {})
    recorded.update({k: str(v) for k, v in versions.items()})


# --- versions move on commit ----------------------------------------------------------


def _domain_of(cls: type) -> str | None:
    module = cls.__module__
    if not module.startswith("shared.models."):
        return None
    return module.rsplit(".", 1)[-1]


def _mark(session: Session, classes: Iterable[type]) -> None:
    domains = {d for d in (_domain_of(c) for c in classes) if d is not None}
    if domains:
        session.info.setdefault(_DIRTY, set()).update(domains)


def _after_flush(session: Session, _context: Any) -> None:
    # ``dirty`` holds objects with any attribute set; only a real change outdates a page.
    changed = [o for o in session.dirty if session.is_modified(o)]
    _mark(session, (type(o) for o in (*session.new, *changed, *session.deleted)))


def _on_execute(state: Any) -> Any:
    if state.bind_mapper is None or not (state.is_update or state.is_delete or state.is_insert):
        return None
    domain_of_statement = [state.bind_mapper.class_]
    if state.is_insert:
        _mark(state.session, domain_of_statement)
        return None
    # A bulk UPDATE or DELETE that matched nothing (the worker's "publish what is due" every
    # cycle) must not outdate every page: run it here and look at what it did.
    result = state.invoke_statement()
    try:
        rowcount = result.rowcount
    except (AttributeError, NotImplementedError):
        rowcount = None
    if rowcount is None:  # RETURNING: the rows say it (kept, and handed on unchanged)
        try:
            frozen = result.freeze()
        except NotImplementedError:
            _mark(state.session, domain_of_statement)
            return result
        rowcount = len(frozen().all())
        result = frozen()
    if rowcount != 0:
        _mark(state.session, domain_of_statement)
    return result


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_DIRTY, None)


_process_redis: aioredis.Redis | None = None
_pending: set[asyncio.Task[None]] = set()
# A CLI command's commits: gathered here, bumped once as the command ends (collect_commits).
_collected: set[str] | None = None


def use_redis(client: aioredis.Redis | None) -> None:
    """The Redis a process outside requests (the worker, a CLI command) bumps versions with."""
    global _process_redis
    _process_redis = client


def _after_commit(session: Session) -> None:
    domains: set[str] | None = session.info.pop(_DIRTY, None)
    if not domains:
        return
    if session.info.get(REQUEST_SESSION):
        # The request bumps before it answers (see publish_committed).
        session.info.setdefault(_COMMITTED, set()).update(domains)
        return
    client = _process_redis
    if client is None:
        if _collected is not None:
            _collected.update(domains)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(_bump(client, domains))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _bump(client: aioredis.Redis, domains: Iterable[str]) -> None:
    try:
        async with client.pipeline(transaction=False) as pipe:
            for domain in sorted(domains):
                pipe.incr(version_key(domain))
            await pipe.execute()
    except (RedisError, OSError, TimeoutError) as err:
        log.error("could not outdate cached pages of %s (%r)", sorted(domains), err)


async def publish_committed(info: dict[str, Any], client: aioredis.Redis) -> None:
    """Bump the versions of what a request's transaction changed (after its commit)."""
    domains: set[str] | None = info.pop(_COMMITTED, None)
    if domains:
        await _bump(client, domains)


async def flush_pending() -> None:
    """Wait for the bumps scheduled outside requests (tests, and commands before they exit)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)


@contextlib.contextmanager
def collecting_commits() -> Iterator[set[str]]:
    """For a CLI command (ghost-sync, scrape, demo ...): the domains its commits change are
    gathered in the set it yields, for the command to bump as it ends (each command runs its
    own event loops, so nothing is scheduled on them)."""
    global _collected
    install_listeners()
    found: set[str] = set()
    _collected = found
    try:
        yield found
    finally:
        _collected = None


def install_listeners() -> None:
    """Attribute every ORM write to its domain (idempotent; done once per process)."""
    if event.contains(Session, "after_commit", _after_commit):
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_execute)
    event.listen(Session, "after_soft_rollback", _after_rollback)
    event.listen(Session, "after_commit", _after_commit)


# --- serving, in front of Quart ---------------------------------------------------------

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class VisitorCookies:
    """The cookies an app reads, as its page cache tells them apart (decision 0091)."""

    marker: str  # this app's sign-on marker
    generation: str  # federation's sign-in generation
    session: str  # this app's session
    cart: str  # the anonymous cart key
    # Cookies this app never reads: the other apps' sessions and markers.
    ignored: frozenset[str]
    # Session keys that say nothing about who the visitor is (sign-on state, the CSRF token).
    anonymous_session_keys: frozenset[str]
    # The keys of a session cookie's value, as the app would open it; None when it cannot.
    session_keys: Callable[[str], Collection[str] | None]
    # oauth.needs_sign_on_check: whether a page load is due for a silent sign-on check.
    needs_sign_on_check: Callable[[str | None, str | None], bool]


class Lookup(NamedTuple):
    """Where a request's page is cached, and whether what is rendered for it may be stored."""

    key: str
    store: bool
    audience: str | None


def session_reader(app: Any) -> Callable[[str], Collection[str] | None]:
    """The keys of ``app``'s session cookie value, opened as Quart's session interface opens
    it (its signing key and lifetime); None when the signature or the content is not good."""

    def keys(value: str) -> Collection[str] | None:
        serializer = app.session_interface.get_signing_serializer(app)
        if serializer is None:
            return None
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data = serializer.loads(value, max_age=max_age)
        except (BadSignature, ValueError):
            return None
        return data.keys() if isinstance(data, dict) else None

    return keys


class PageCache:
    """The ASGI layer of one app: look up, else pass through and maybe store."""

    def __init__(
        self,
        app_name: str,
        redis: aioredis.Redis,
        *,
        ttl_s: int,
        cookies: VisitorCookies,
        retry_after_s: float,
    ) -> None:
        self.app_name = app_name
        self.redis = redis
        self.ttl_s = ttl_s
        self.cookies = cookies
        self.retry_after_s = retry_after_s
        # Request headers that carry an identity (tests add their own). The apps' signed
        # internal requests (fragments) are never pages: without these they were looked up,
        # and concurrent fetches of one fragment for different visitors queued behind each
        # other's "render" (the stampede guard below), on the cold path of every page.
        self.identity_headers: set[bytes] = {
            b"authorization",
            *(
                h.lower().encode()
                for h in (internal_auth.SIGNATURE_HEADER, internal_auth.VISITOR_HEADER)
            ),
        }
        self._lookup = redis.register_script(_LOOKUP)
        self._down_until = 0.0
        # Pages being rendered by a request of this process (key -> set when done).
        self._rendering: dict[str, asyncio.Event] = {}

    def key_for(self, scope: dict[str, Any]) -> Lookup | None:
        """Where an anonymous, cacheable request's page is cached, or None (see the module)."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            name = name.lower()
            if name in self.identity_headers:
                return None
            if name in _BOOST and name in headers:
                return None  # a repeated boost header: which one the app reads is its business
            if name == b"cookie" and name in headers:
                return None  # cookies in two headers: left to the app
            headers[name] = value
        found = self._cookies(headers.get(b"cookie"))
        if found is None:
            return None
        known = self.cookies
        store = True
        if known.session in found:
            keys = known.session_keys(found[known.session])
            if keys is None or not set(keys) <= known.anonymous_session_keys:
                return None
            store = False  # served, but its render may show its CSRF token: never stored
        accept = headers.get(b"accept", b"").decode("latin-1")
        if "json" in accept or any(h in accept for h in ACTIVITYPUB_HINTS):
            return None
        hx, restore = (_text(headers[name]) if name in headers else None for name in _BOOST)
        marker = found.get(known.marker)
        if known.needs_sign_on_check(marker, found.get(known.generation)):
            if is_htmx(hx):
                # A boosted navigation is checked too once this app has checked before.
                if marker is not None and headers.get(b"hx-boosted") == b"true":
                    return None
            elif self._browser_navigation(headers, accept):
                return None  # silent single sign-on gets its chance first
        # The page varies on the boost headers only through this (the renderer asks the same);
        # a whole page also on the audience (its header's mini cart).
        variant = "partial" if wants_partial(hx, restore) else "full"
        audience = CART_AUDIENCE if known.cart in found else None
        if variant == "full" and audience is not None:
            variant = f"full-{audience}"
        target = scope["path"] + "?" + scope.get("query_string", b"").decode("latin-1")
        digest = hashlib.sha256(target.encode()).hexdigest()[:32]
        return Lookup(f"{ENTRY_PREFIX}{self.app_name}:{variant}:{digest}", store, audience)

    def _cookies(self, header: bytes | None) -> dict[str, str] | None:
        """The request's cookies this layer knows (the ignored ones left out), read as the app
        reads them; None when there is one it does not know, or a name sent twice."""
        if not header:
            return {}
        jar = parse_cookie(header.decode("latin-1"))
        if not jar and header.strip():
            return None  # a header that parses to nothing may be somebody: let the app decide
        known = self.cookies
        names = {known.marker, known.generation, known.session, known.cart}
        found: dict[str, str] = {}
        for name, values in jar.lists():
            if name in known.ignored:
                continue
            if name not in names or len(values) != 1:
                return None
            found[name] = values[0]
        return found

    @staticmethod
    def _browser_navigation(headers: dict[bytes, bytes], accept: str) -> bool:
        mode = headers.get(b"sec-fetch-mode", b"navigate")
        dest = headers.get(b"sec-fetch-dest", b"document")
        return mode == b"navigate" and dest == b"document" and "text/html" in accept

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[..., Any],
        send: Callable[..., Any],
        app: ASGIApp,
    ) -> None:
        lookup = self.key_for(scope)
        if lookup is None or time.monotonic() < self._down_until:
            await app(scope, receive, send)
            return
        key = lookup.key
        etag_wanted = _header(scope, b"if-none-match")
        try:
            hit = await self._lookup(keys=[key], args=[etag_wanted])
        except (RedisError, OSError, TimeoutError) as err:
            self._down_until = time.monotonic() + self.retry_after_s
            log.warning("page cache unreachable (%r): pages are rendered", err)
            await app(scope, receive, send)
            return
        if hit:
            metrics.count_page_cache(self.app_name, hit=True)
            await self._send_hit(scope, send, hit)
            return
        metrics.count_page_cache(self.app_name, hit=False)
        if not lookup.store:
            await app(scope, receive, send)  # rendered for this visitor alone
            return
        if lookup.audience is not None:
            scope[AUDIENCE_KEY] = lookup.audience
        rendering = self._rendering.get(key)
        if rendering is not None:
            # The page is being rendered by another request of this process: wait for it
            # (a while) and look again, rather than every visitor rendering it at once (a
            # stampede each time a popular page expires or changes: the benchmark saw the
            # blog home's p99 at 1.2 s from it).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rendering.wait(), RENDER_WAIT_S)
            try:
                hit = await self._lookup(keys=[key], args=[etag_wanted])
            except (RedisError, OSError, TimeoutError):
                hit = None
            if hit:
                await self._send_hit(scope, send, hit)
                return
            await self._pass_through(scope, receive, send, app, key)
            return
        self._rendering[key] = rendering = asyncio.Event()
        try:
            await self._pass_through(scope, receive, send, app, key)
        finally:
            rendering.set()
            if self._rendering.get(key) is rendering:
                del self._rendering[key]

    async def _send_hit(
        self, scope: dict[str, Any], send: Callable[..., Any], hit: list[Any]
    ) -> None:
        etag = hit[0]
        head = json.loads(hit[1])
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in head]
        headers.append((b"etag", etag))
        headers.append((b"x-request-id", _request_id(scope).encode()))
        headers.append((b"x-rose-cache", b"hit"))
        if len(hit) == 2:
            keep = {b"etag", b"vary", b"cache-control", b"x-request-id", b"x-rose-cache"}
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [(k, v) for k, v in headers if k in keep],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        body = hit[2]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _pass_through(
        self,
        scope: dict[str, Any],
        receive: Callable[..., Any],
        send: Callable[..., Any],
        app: ASGIApp,
        key: str,
    ) -> None:
        scope[SCOPE_KEY] = key
        start: dict[str, Any] | None = None
        deps: str | None = None
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal start, deps
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                found = [v for k, v in headers if k.lower() == DEPS_HEADER.encode()]
                if found and message["status"] == 200 and _storable(headers):
                    # Hold the start until the body is complete: the ETag goes in it.
                    deps = found[0].decode("latin-1")
                    start = {
                        **message,
                        "headers": [
                            (k, v) for k, v in headers if k.lower() != DEPS_HEADER.encode()
                        ],
                    }
                    return
                message = {
                    **message,
                    "headers": [(k, v) for k, v in headers if k.lower() != DEPS_HEADER.encode()],
                }
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                if sum(len(c) for c in chunks) > MAX_BODY_BYTES:
                    await send(start)
                    await send(
                        {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                    )
                    start, chunks[:] = None, []
                return
            body = b"".join(chunks)
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            start["headers"] = [*start["headers"], (b"etag", etag.encode())]
            await send(start)
            await send({"type": "http.response.body", "body": body})
            await self._store(key, deps or "{}", etag, start["headers"], body)

        await app(scope, receive, capture)

    async def _store(
        self, key: str, deps: str, etag: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        skip = {b"x-request-id", b"content-length", b"etag", b"date", b"server"}
        head = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k.lower() not in skip
        ]
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.delete(key)
                pipe.hset(
                    key,
                    mapping={"deps": deps, "etag": etag, "head": json.dumps(head), "body": body},
                )
                pipe.expire(key, self.ttl_s)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as err:
            self._down_until = time.monotonic() + self.retry_after_s
            log.warning("page cache unreachable (%r): page not stored", err)


_BOOST = tuple(name.lower().encode() for name in BOOST_HEADERS)


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _request_id(scope: dict[str, Any]) -> str:
    return new_request_id(_header(scope, b"x-request-id") or None)


def _storable(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        name = name.lower()
        if name == b"set-cookie":
            return False
        if name == b"cache-control" and (b"private" in value or b"no-store" in value):
            return False
        if name == b"content-type" and not value.startswith(b"text/html"):
            return False
    return True


def install(app: Any, settings: Any, redis: aioredis.Redis, cookies: VisitorCookies) -> None:
    """Put the page cache in front of ``app`` (when enabled) and attribute writes to domains."""
    install_listeners()
    app.jinja_env.globals["cart_deferred"] = cart_deferred
    if not settings.pagecache.enabled:
        app.page_cache = None
        return
    app.page_cache = PageCache(
        app.name,
        redis,
        ttl_s=settings.pagecache.ttl_s,
        cookies=cookies,
        retry_after_s=settings.fragments.retry_after_s,
    )
