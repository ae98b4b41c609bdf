"""Fragments: the parts of a page that another app renders (the header's navigation, cart, menu).

**Providing.** An app declares each fragment with its cache TTL and whether it varies per user
(both required), and installs them at ``GET /internal/fragments/<type>``::

    fragments = FragmentSet("cart")

    @fragments.fragment("mini", ttl_s=60, per_user=True)
    async def mini(req: FragmentRequest) -> str:
        ...  # req.actor: the signed acting user; req.args: the query arguments

    fragments.install(app)

Requests must be signed (:mod:`shared.infrastructure.internal_auth`). A fragment that does
not vary per user is always rendered for an anonymous actor, whoever asked, so a copy shared
by everyone can never contain anyone's data. The answer carries the declaration to the
consumer: ``Cache-Control: max-age=<ttl>`` and, for per-user fragments, ``Vary: X-Rose-Visitor``.

**Consuming.** A page asks for all its fragments at once — :func:`render_page` does it for the
shared header — and templates place them with ``{{ fragment("cart/mini") }}``:

* one ``MGET`` reads every cached copy *and* the version keys they must match, so a page whose
  fragments are cached costs exactly one Redis round trip;
* the missing ones are fetched concurrently over each app's internal URL with one
  ``httpx.AsyncClient`` per process, each fetch bounded by ``fragments.timeout_s``;
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
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
from markupsafe import Markup
from quart import (
    Quart,
    Response,
    abort,
    current_app,
    g,
    has_app_context,
    has_request_context,
    render_template,
    request,
)
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES, Settings
from shared.db import after_commit
from shared.errors import DomainError
from shared.infrastructure import internal_auth, pagecache
from shared.infrastructure.visitor import ANONYMOUS, Visitor, current_visitor

log = logging.getLogger(__name__)

ROUTE = "/internal/fragments/<type>"
KEY_PREFIX = "rose:frag:"
PART_PREFIX = "rose:part:"
VERSION_PREFIX = "rose:fragver:"
LOCK_PREFIX = "rose:fraglock:"
EXTENSION = "rose_fragments"
PROVIDER_EXTENSION = "rose_fragment_set"
POLL_INTERVAL_S = 0.05
_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_MAX_AGE_RE = re.compile(r"(?:^|[,\s])max-age=(\d{1,9})(?:$|[,\s])")
# Delete a lock only if it is still ours (it may have expired and been taken by another).
_RELEASE_LOCK = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


# --- providing ------------------------------------------------------------------------


@dataclass(frozen=True)
class FragmentRequest:
    """What a fragment handler gets: the signed actor (anonymous unless it varies per user)."""

    actor: Visitor
    args: Mapping[str, str]


Handler = Callable[[FragmentRequest], Awaitable[str]]


@dataclass(frozen=True)
class FragmentSpec:
    app: str
    type: str
    ttl_s: int
    per_user: bool
    handler: Handler

    @property
    def id(self) -> str:
        return f"{self.app}/{self.type}"


class FragmentSet:
    """The fragments one app provides."""

    def __init__(self, app: str) -> None:
        if app not in APP_NAMES:
            raise ValueError(f"unknown app {app!r}")
        self.app = app
        self.specs: dict[str, FragmentSpec] = {}

    def fragment(self, type: str, *, ttl_s: int, per_user: bool) -> Callable[[Handler], Handler]:
        """Declare the handler of ``/internal/fragments/<type>``, its TTL and user-variance."""
        if not _TYPE_RE.match(type):
            raise ValueError(f"fragment type {type!r} must match {_TYPE_RE.pattern}")
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or ttl_s < 0:
            raise ValueError(f"{self.app}/{type}: ttl_s must be a whole number of seconds >= 0")
        if not isinstance(per_user, bool):
            raise ValueError(f"{self.app}/{type}: per_user must be True or False")
        if type in self.specs:
            raise ValueError(f"{self.app}/{type} is declared twice")

        def register(handler: Handler) -> Handler:
            self.specs[type] = FragmentSpec(self.app, type, ttl_s, per_user, handler)
            return handler

        return register

    def install(self, app: Quart) -> None:
        """Serve these fragments at ``GET /internal/fragments/<type>``."""
        if app.name != self.app:
            raise ValueError(f"{self.app}'s fragments installed on {app.name}")
        app.extensions[PROVIDER_EXTENSION] = self
        app.add_url_rule(ROUTE, "internal_fragment", self._serve, methods=["GET"])

    async def _serve(self, type: str) -> Response:
        actor = internal_auth.internal_visitor()  # the signature was checked before routing
        spec = self.specs.get(type)
        if spec is None:
            abort(404)
        args = {key: request.args.get(key, "") for key in request.args}
        html = await spec.handler(FragmentRequest(actor if spec.per_user else ANONYMOUS, args))
        response = Response(html, mimetype="text/html")
        response.headers["Cache-Control"] = f"max-age={spec.ttl_s}"
        if spec.per_user:
            response.headers["Vary"] = internal_auth.VISITOR_HEADER
        return response


def provided_fragments(app: Quart) -> FragmentSet | None:
    fragment_set = app.extensions.get(PROVIDER_EXTENSION)
    return fragment_set if isinstance(fragment_set, FragmentSet) else None


def is_fragment_view(view: Callable[..., Any]) -> bool:
    """Whether ``view`` is a FragmentSet's dispatcher (checked for every internal route)."""
    owner = getattr(view, "__self__", None)
    return isinstance(owner, FragmentSet) and getattr(view, "__func__", None) is FragmentSet._serve


# --- consuming ------------------------------------------------------------------------


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
        if self.app not in APP_NAMES or not _TYPE_RE.match(self.type):
            raise ValueError(f"not a fragment: {self.app}/{self.type}")

    @property
    def id(self) -> str:
        return f"{self.app}/{self.type}"

    @property
    def slot(self) -> str:
        return self.name or self.id


def header_fragments(app_name: str) -> tuple[FragmentRef, ...]:
    """The fragments of the header every app shows (shared/templates/_header.html)."""
    return (
        FragmentRef.of("blog/nav", current=app_name),
        FragmentRef.of("cart/mini"),
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


@dataclass
class _Entry:
    """A cached copy: the versions it was rendered under, fresh until ``exp``, and its HTML."""

    versions: list[int]
    exp: float
    per_user: bool
    html: str

    def encode(self) -> str:
        return json.dumps({"v": self.versions, "exp": self.exp, "u": self.per_user, "h": self.html})

    @classmethod
    def decode(cls, raw: bytes | None) -> _Entry | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls([int(v) for v in data["v"]], float(data["exp"]), bool(data["u"]), data["h"])
        except (ValueError, KeyError, TypeError):
            return None  # unreadable copies are simply misses


@dataclass(frozen=True)
class _Keys:
    shared: str
    personal: str
    version: str
    personal_version: str
    lock_shared: str
    lock_personal: str


def _version_key(fragment_id: str, owner: Visitor | None = None) -> str:
    base = VERSION_PREFIX + fragment_id
    return base if owner is None else f"{base}:{owner.scope()}"


@functools.lru_cache(maxsize=1024)
def _base_key(ref: FragmentRef) -> str:
    # Every page asks for the same few refs: their canonical query and its hash once each.
    args = internal_auth.canonical_query(ref.args)
    arg_hash = hashlib.sha256(args.encode()).hexdigest()[:16] if args else "-"
    return f"{ref.id}:{arg_hash}"


def _keys(ref: FragmentRef, actor: Visitor) -> _Keys:
    base = _base_key(ref)
    scope = actor.scope()
    return _Keys(
        shared=f"{KEY_PREFIX}{base}:shared",
        personal=f"{KEY_PREFIX}{base}:{scope}",
        version=_version_key(ref.id),
        personal_version=_version_key(ref.id, actor),
        lock_shared=f"{LOCK_PREFIX}{base}:shared",
        lock_personal=f"{LOCK_PREFIX}{base}:{scope}",
    )


class _FetchFailed(Exception):
    """The provider did not give a usable answer; ``transport`` when it could not be reached."""

    def __init__(self, message: str, *, transport: bool) -> None:
        super().__init__(message)
        self.transport = transport


@dataclass
class _Plan:
    """What one page knows about one fragment after the MGET."""

    ref: FragmentRef
    keys: _Keys
    per_user: bool | None  # None: not learned yet in this process
    versions: dict[str, int] | None = None  # None: Redis did not answer
    shared_entry: _Entry | None = None
    personal_entry: _Entry | None = None
    stale: _Entry | None = None  # the last good copy, whatever its age or version


@dataclass
class FragmentClient:
    """The consuming side of one app process: HTTP client, cache, locks and failure state."""

    app_name: str
    settings: Settings
    redis: aioredis.Redis
    http: httpx.AsyncClient | None = None
    # Per-user or not, learned from answers and cached copies (the provider is the authority).
    _per_user: dict[str, bool] = field(default_factory=dict)
    _inflight: dict[tuple[Any, ...], asyncio.Task[str | None]] = field(default_factory=dict)
    _app_down_until: dict[str, float] = field(default_factory=dict)
    _redis_down_until: float = 0.0
    _failing: set[str] = field(default_factory=set)
    _part_flights: dict[tuple[str, tuple[str, ...]], asyncio.Task[str]] = field(
        default_factory=dict
    )

    async def start(self) -> None:
        timeout = self.settings.fragments.timeout_s
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            follow_redirects=False,
            trust_env=False,  # internal calls never go through a proxy from the environment
            headers={"User-Agent": f"rose-ash/{self.app_name}"},
        )

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    # -- the page's entry point --

    async def fetch_page(
        self,
        refs: Iterable[FragmentRef],
        actor: Visitor,
        request_id: str | None = None,
        also: Iterable[str] = (),
    ) -> tuple[dict[str, Markup], dict[str, Any] | None]:
        """Every fragment's HTML by slot (cached, fetched, last good, or empty; never raises),
        and the values of the Redis keys ``also`` read in the same ``MGET`` (None when Redis
        did not answer)."""
        refs = list(refs)
        plans, found = await self._read_cache(refs, actor, also)
        # A cached page is only as fresh as its fragments: it records their versions.
        pagecache.record_fragment_versions(
            None
            if any(p.versions is None for p in plans)
            else {k: v for p in plans for k, v in (p.versions or {}).items()}
        )
        results: dict[str, Markup] = {}
        refresh: dict[str, Awaitable[str | None]] = {}
        now = time.time()
        for plan in plans:
            fresh = self._fresh(plan, now)
            if fresh is not None:
                results[plan.ref.slot] = Markup(fresh)  # noqa: S704 - HTML rendered by our own app
            else:
                refresh[plan.ref.slot] = self._refresh(plan, actor, request_id)
        if refresh:
            # The budget of the whole page: each fetch is bounded already; this also bounds the
            # Redis calls around them. Fetches that outlive it finish in the background and fill
            # the cache for the next page.
            budget = self.settings.fragments.timeout_s + 0.5
            tasks = {slot: asyncio.ensure_future(aw) for slot, aw in refresh.items()}
            await asyncio.wait(tasks.values(), timeout=budget)
            by_slot = {p.ref.slot: p for p in plans}
            for slot, task in tasks.items():
                html = _outcome(task)
                if html is None:
                    stale = by_slot[slot].stale
                    html = stale.html if stale is not None else ""
                if not task.done():
                    task.add_done_callback(_consume)
                results[slot] = Markup(html)  # noqa: S704 - HTML rendered by our own app
        return results, found

    # -- Redis, always behind a short circuit breaker --

    def _redis_usable(self) -> bool:
        return time.monotonic() >= self._redis_down_until

    def _redis_failed(self, err: BaseException) -> None:
        self._redis_down_until = time.monotonic() + self.settings.fragments.retry_after_s
        self._fail_once("redis", "Redis is unreachable (%r): fragments are fetched directly", err)

    def _redis_ok(self) -> None:
        self._recovered("redis", "Redis answers again: fragments are cached")

    async def _redis_call(self, call: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        if not self._redis_usable():
            return False, None
        try:
            value = await call()
        except (RedisError, OSError, TimeoutError) as err:
            self._redis_failed(err)
            return False, None
        self._redis_ok()
        return True, value

    async def _read_cache(
        self, refs: list[FragmentRef], actor: Visitor, also: Iterable[str] = ()
    ) -> tuple[list[_Plan], dict[str, Any] | None]:
        plans: list[_Plan] = []
        wanted: dict[str, None] = dict.fromkeys(also)  # ordered and unique
        for ref in refs:
            keys = _keys(ref, actor)
            per_user = self._per_user.get(ref.id)
            plans.append(_Plan(ref, keys, per_user))
            if per_user is not True:
                wanted.update(dict.fromkeys((keys.shared, keys.version)))
            if per_user is not False:
                wanted.update(dict.fromkeys((keys.personal, keys.version, keys.personal_version)))
        names = list(wanted)
        if not names:
            return plans, {}
        ok, values = await self._redis_call(lambda: self.redis.mget(names))
        if not ok:
            return plans, None
        found = dict(zip(names, values, strict=True))
        for plan in plans:
            plan.versions = {
                key: _int(found.get(key))
                for key in (plan.keys.version, plan.keys.personal_version)
                if key in found
            }
            plan.shared_entry = _Entry.decode(found.get(plan.keys.shared))
            plan.personal_entry = _Entry.decode(found.get(plan.keys.personal))
        return plans, found

    def _fresh(self, plan: _Plan, now: float) -> str | None:
        """The fresh cached copy that matches the current versions, if any (and learn from it)."""
        if plan.versions is None:
            return None
        candidates = [(plan.personal_entry, True), (plan.shared_entry, False)]
        for entry, personal in candidates:
            if entry is None or entry.per_user != personal:
                continue
            if plan.stale is None:
                plan.stale = entry
            if entry.versions == self._expected_versions(plan, personal) and entry.exp > now:
                self._per_user[plan.ref.id] = personal
                return entry.html
        return None

    @staticmethod
    def _expected_versions(plan: _Plan, personal: bool) -> list[int] | None:
        if plan.versions is None:
            return None
        keys = [plan.keys.version, *([plan.keys.personal_version] if personal else [])]
        if any(k not in plan.versions for k in keys):
            return None
        return [plan.versions[k] for k in keys]

    # -- fetching --

    def _refresh(
        self, plan: _Plan, actor: Visitor, request_id: str | None
    ) -> Awaitable[str | None]:
        """One fetch per key at a time in this process; the result is shared by all waiters."""
        personal = plan.per_user is not False
        storage = plan.keys.personal if personal else plan.keys.shared
        flight = (storage, tuple(sorted((plan.versions or {}).items())))
        task = self._inflight.get(flight)
        if task is None:
            task = asyncio.ensure_future(self._fetch_and_store(plan, actor, request_id))
            self._inflight[flight] = task
            task.add_done_callback(lambda _t: self._inflight.pop(flight, None))
        # Shielded: a page that gives up (or is cancelled) never cancels a fetch others await.
        return asyncio.shield(task)

    async def _fetch_and_store(
        self, plan: _Plan, actor: Visitor, request_id: str | None
    ) -> str | None:
        ref = plan.ref
        if time.monotonic() < self._app_down_until.get(ref.app, 0.0):
            return None  # the app failed moments ago: show the last good copy at once
        personal = plan.per_user is not False
        lock_key = plan.keys.lock_personal if personal else plan.keys.lock_shared
        token = secrets.token_hex(8)
        timeout = self.settings.fragments.timeout_s
        locked = False
        if plan.versions is not None:
            ok, acquired = await self._redis_call(
                lambda: self.redis.set(lock_key, token, nx=True, px=int(timeout * 2000) + 100)
            )
            if ok and not acquired:
                # Another process is fetching this very fragment.
                if plan.stale is not None:
                    return plan.stale.html
                return await self._wait_for(plan)
            locked = bool(ok)
        try:
            sent_actor = actor if personal else ANONYMOUS
            html, ttl_s, per_user = await self._fetch(ref, sent_actor, request_id)
        except _FetchFailed as err:
            if err.transport:
                self._app_down_until[ref.app] = time.monotonic() + (
                    self.settings.fragments.retry_after_s
                )
                self._fail_once(
                    f"app:{ref.app}",
                    "%s is unreachable (%s): its fragments show their last good copy or "
                    "nothing, retrying every %ss",
                    ref.app,
                    err,
                    self.settings.fragments.retry_after_s,
                )
            else:
                self._fail_once(f"fragment:{ref.id}", "fragment %s failed: %s", ref.id, err)
            if locked:
                await self._redis_call(lambda: self.redis.eval(_RELEASE_LOCK, 1, lock_key, token))
            return None
        self._recovered(f"app:{ref.app}", "%s answers again", ref.app)
        self._recovered(f"fragment:{ref.id}", "fragment %s works again", ref.id)
        self._per_user[ref.id] = per_user
        if plan.versions is not None:
            await self._store(plan, per_user, ttl_s, html, lock_key if locked else None, token)
        return html

    async def _fetch(
        self, ref: FragmentRef, actor: Visitor, request_id: str | None
    ) -> tuple[str, int, bool]:
        """(HTML, TTL, per-user) from the provider, or :class:`_FetchFailed`."""
        secret = self.settings.secrets.internal_secret
        if self.http is None or not secret:
            raise _FetchFailed("fragments are not set up in this process", transport=False)
        path = ROUTE.replace("<type>", ref.type)
        query, headers = internal_auth.sign(secret, "GET", path, ref.args, actor)
        if request_id:
            headers["X-Request-ID"] = request_id
        url = self.settings.apps[ref.app].internal_url + path + (f"?{query}" if query else "")
        limit = self.settings.fragments.max_bytes
        try:
            async with asyncio.timeout(self.settings.fragments.timeout_s):
                async with self.http.stream("GET", url, headers=headers) as response:
                    if response.status_code != 200:
                        raise _FetchFailed(f"HTTP {response.status_code}", transport=False)
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > limit:
                            raise _FetchFailed(f"larger than {limit} bytes", transport=False)
                    html = body.decode(response.encoding or "utf-8", errors="replace")
                    cache_control = response.headers.get("Cache-Control", "")
                    vary = response.headers.get("Vary", "")
        except TimeoutError:
            raise _FetchFailed(
                f"no answer within {self.settings.fragments.timeout_s}s", transport=True
            ) from None
        except httpx.HTTPError as err:
            raise _FetchFailed(f"{type(err).__name__}: {err}", transport=True) from None
        match = _MAX_AGE_RE.search(cache_control)
        ttl_s = int(match.group(1)) if match else self.settings.fragments.default_ttl_s
        per_user = internal_auth.VISITOR_HEADER.lower() in {
            v.strip().lower() for v in vary.split(",")
        }
        return html, ttl_s, per_user

    async def _store(
        self,
        plan: _Plan,
        per_user: bool,
        ttl_s: int,
        html: str,
        lock_key: str | None,
        token: str,
    ) -> None:
        versions = self._expected_versions(plan, per_user)
        # Versions read before the fetch: if the domain changed meanwhile, this copy is already
        # outdated and the next page refetches (never the reverse).
        entry = _Entry(versions or [-1], time.time() + ttl_s if versions else 0.0, per_user, html)
        key = plan.keys.personal if per_user else plan.keys.shared
        keep = max(ttl_s, self.settings.fragments.last_good_ttl_s)

        async def store() -> Any:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(key, entry.encode(), ex=keep)
                if lock_key is not None:
                    pipe.eval(_RELEASE_LOCK, 1, lock_key, token)
                return await pipe.execute()

        await self._redis_call(store)

    async def _wait_for(self, plan: _Plan) -> str | None:
        """Another process holds the lock and there is no last good copy: wait for its result."""
        # Until this process has learned whether the fragment varies per user, the other
        # process may store it under either key.
        keys: list[tuple[str, bool]] = []
        if plan.per_user is not False:
            keys.append((plan.keys.personal, True))
        if plan.per_user is not True:
            keys.append((plan.keys.shared, False))
        names = [key for key, _ in keys]
        deadline = time.monotonic() + self.settings.fragments.timeout_s
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
            ok, values = await self._redis_call(lambda: self.redis.mget(names))
            if not ok:
                return None
            for (_key, personal), raw in zip(keys, values, strict=True):
                entry = _Entry.decode(raw)
                if entry is not None and entry.per_user == personal and entry.exp > time.time():
                    return entry.html
        return None

    # -- shared parts --

    def caches_parts(self) -> bool:
        return self.settings.pagecache.enabled

    async def resolve_part(self, part: SharedPart, found: dict[str, Any] | None) -> str:
        """The part's HTML: its stored copy if it matches the current versions (``found``:
        what the page's ``MGET`` read, None when Redis did not answer), else rendered now
        and stored. Errors of ``render`` (a page that does not exist) reach the caller."""
        if part.key is None or not self.caches_parts() or found is None:
            return await part.render()
        keys = part.redis_keys()
        versions = tuple(pagecache.version_text(found.get(k)) for k in keys[1:])
        raw = found.get(keys[0])
        if raw is not None:
            try:
                stored = json.loads(raw)
                if tuple(stored["v"]) == versions:
                    return str(stored["h"])
            except (ValueError, KeyError, TypeError):
                pass  # an unreadable copy is a miss
        # One render per part and versions at a time in this process: when a publication
        # outdates the listing, concurrent members wait for one render instead of all
        # running its queries at once (a stampede, as pagecache.py saw for whole pages).
        flight = (part.storage_key, versions)
        task = self._part_flights.get(flight)
        if task is None:
            task = asyncio.ensure_future(self._render_part(part, versions))
            self._part_flights[flight] = task
            task.add_done_callback(lambda _t: self._part_flights.pop(flight, None))
            task.add_done_callback(_consume)
            return await asyncio.shield(task)
        try:
            return await asyncio.shield(task)
        except DomainError:
            raise  # the same answer for this request (no such page)
        except Exception:
            # The other request's render failed (its session closed under it, say): ours.
            return await part.render()

    async def _render_part(self, part: SharedPart, versions: tuple[str, ...]) -> str:
        html = await part.render()
        # Versions read before the render: if the domain changed meanwhile, this copy is
        # already outdated and the next page renders again (never the reverse).
        value = json.dumps({"v": list(versions), "h": html})
        ttl_s = self.settings.pagecache.ttl_s
        await self._redis_call(lambda: self.redis.set(part.storage_key, value, ex=ttl_s))
        return html

    # -- logging each outage once --

    def _fail_once(self, what: str, message: str, *args: Any) -> None:
        if what in self._failing:
            log.debug(message, *args)
            return
        self._failing.add(what)
        log.warning(message, *args)

    def _recovered(self, what: str, message: str, *args: Any) -> None:
        if what in self._failing:
            self._failing.discard(what)
            log.info(message, *args)


def _int(raw: bytes | None) -> int:
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _outcome(task: asyncio.Future[str | None]) -> str | None:
    if not task.done() or task.cancelled():
        return None
    try:
        return task.result()
    except Exception:
        # A bug, not an outage: log it fully, but a page never breaks for a fragment.
        log.exception("fetching a fragment failed unexpectedly")
        return None


def _consume(task: asyncio.Future[Any]) -> None:
    # A fetch that outlived its page: its result (or error) was wanted only for the cache.
    if not task.cancelled():
        task.exception()


# --- in a request ---------------------------------------------------------------------


def install(app: Quart, settings: Settings, redis: aioredis.Redis) -> None:
    """Give ``app`` its fragment client (opened and closed with the app) and ``fragment()``."""
    client = FragmentClient(app.name, settings, redis)
    app.extensions[EXTENSION] = client
    app.before_serving(client.start)
    app.after_serving(client.close)
    app.jinja_env.globals["fragment"] = fragment
    app.jinja_env.globals["partial_page_requested"] = partial_page_requested


def client() -> FragmentClient:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


async def page_fragments(*refs: FragmentRef, parts: Iterable[SharedPart] = ()) -> dict[str, Markup]:
    """Fetch the page's fragments (all at once) for the acting user; templates read them.

    ``parts`` are read in the same ``MGET`` and rendered where missing; their HTML is in the
    answer under their slots (it is not something ``fragment()`` shows)."""
    parts = list(parts)
    fragment_client = client()
    also = (
        [k for p in parts if p.key is not None for k in p.redis_keys()]
        if fragment_client.caches_parts()
        else []
    )
    try:
        results, found = await fragment_client.fetch_page(
            refs, current_visitor(), g.get("request_id"), also
        )
    except Exception:
        # A bug, not an outage (those are handled inside): the page renders without them.
        log.exception("composing the page's fragments failed")
        results, found = {}, None
    slots: dict[str, Markup] = g.setdefault("rose_fragments", {})
    slots.update(results)
    for part in parts:
        html = await fragment_client.resolve_part(part, found)
        results[part.slot] = Markup(html)  # noqa: S704 - HTML rendered by our own app
    return results


def fragment(slot: str) -> Markup:
    """The fragment fetched for ``slot`` in this request (empty when it was not, or failed)."""
    slots: dict[str, Markup] = g.get("rose_fragments") or {}
    return slots.get(slot, Markup(""))


def partial_page_requested() -> bool:
    """Whether this request is a boosted navigation (htmx) that wants only the page's title
    and ``#content``: the header stays in place, so its fragments are not even fetched.

    A history restore (back/forward) swaps the whole body, so it gets the full page. The
    answer depends on these headers: responses say so (``Vary``, set by the factory).
    """
    if not has_request_context():
        return False
    # Asked several times per page (render_page, base.html); werkzeug's lookup of a missing
    # header raises and catches an exception, so the answer is kept for the request.
    partial: bool | None = g.get("_partial_page")
    if partial is None:
        partial = g._partial_page = (
            request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true"
        )
    return partial


async def render_page(
    template: str,
    *,
    fragments: Iterable[FragmentRef] = (),
    parts: Iterable[SharedPart] = (),
    **context: Any,
) -> str:
    """Render a page of the site: the header's fragments and ``fragments`` first, in one go
    (for a boosted navigation, only ``fragments``: the header is already on the screen), with
    each of ``parts`` read in the same round trip and given to the template by its slot."""
    parts = list(parts)
    header = () if partial_page_requested() else header_fragments(current_app.name)
    found = await page_fragments(*header, *fragments, parts=parts)
    context.update({part.slot: found[part.slot] for part in parts})
    return await render_template(template, **context)


async def render_part(template: str, **context: Any) -> str:
    """Render a template for a :class:`SharedPart`: without the request's template context
    (no ``request``, ``session`` or ``g``), so nothing of this visitor can slip into a copy
    that others are shown."""
    return await current_app.jinja_env.get_template(template).render_async(context)


# --- invalidation ---------------------------------------------------------------------


async def invalidate(
    redis: aioredis.Redis,
    fragment_id: str,
    owner: Visitor | None = None,
    *,
    keep_s: int,
) -> None:
    """Outdate every cached copy of ``fragment_id`` (or only ``owner``'s, if it varies per user).

    ``keep_s`` (at least ``fragments.last_good_ttl_s``) is how long an owner's version is kept:
    longer than any copy rendered under it can live, so it may then be forgotten safely.
    """
    key = _version_key(fragment_id, owner)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        if owner is not None:
            pipe.expire(key, keep_s)
        await pipe.execute()


def invalidate_after_commit(
    session: AsyncSession, fragment_id: str, owner: Visitor | None = None
) -> None:
    """Invalidate once ``session``'s transaction commits (the data is then visible to readers).

    Needs an app context (a request, or ``app.app_context()`` in a worker). A failure to reach
    Redis is logged: the outdated copy then lives at most its TTL.
    """
    if not has_app_context():
        raise RuntimeError("invalidate_after_commit needs an app context")
    rose = current_app.extensions["rose"]
    redis = rose.redis
    keep_s = rose.settings.fragments.last_good_ttl_s

    async def bump() -> None:
        try:
            await invalidate(redis, fragment_id, owner, keep_s=keep_s)
        except (RedisError, OSError, TimeoutError) as err:
            log.error(
                "could not invalidate fragment %s (%r): it may be stale until its TTL",
                fragment_id,
                err,
            )

    after_commit(session, bump)
