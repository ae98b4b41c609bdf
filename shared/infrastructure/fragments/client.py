"""The consuming side of one app process (:class:`FragmentClient`): one ``MGET`` for a page's
fragments, their versions and its shared parts; concurrent fetches over the apps' internal
URLs; one fetch per key across processes; last good copies; Redis and failing apps behind
short circuit breakers (see the package's docstring)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
from markupsafe import Markup
from quart import current_app, has_app_context
from redis.exceptions import RedisError

from shared.config import Settings
from shared.errors import DomainError
from shared.infrastructure import internal_auth, metrics, pagecache
from shared.infrastructure.fragments.provider import (
    FragmentRequest,
    FragmentSpec,
    provided_fragments,
)
from shared.infrastructure.fragments.refs import (
    KEY_PREFIX,
    LOCK_PREFIX,
    ROUTE,
    FragmentRef,
    SharedPart,
    version_key,
)
from shared.infrastructure.visitor import ANONYMOUS, Visitor

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.05
_MAX_AGE_RE = re.compile(r"(?:^|[,\s])max-age=(\d{1,9})(?:$|[,\s])")
# Delete a lock only if it is still ours (it may have expired and been taken by another).
_RELEASE_LOCK = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


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


@functools.lru_cache(maxsize=1024)
def _base_key(ref: FragmentRef) -> str:
    # Every page asks for the same few refs: their canonical query and its hash once each.
    args = internal_auth.canonical_query(ref.args)
    arg_hash = hashlib.sha256(args.encode()).hexdigest()[:16] if args else "-"
    return f"{ref.id}:{arg_hash}"


def _keys(ref: FragmentRef, visitor: Visitor) -> _Keys:
    base = _base_key(ref)
    scope = visitor.scope()
    return _Keys(
        shared=f"{KEY_PREFIX}{base}:shared",
        personal=f"{KEY_PREFIX}{base}:{scope}",
        version=version_key(ref.id),
        personal_version=version_key(ref.id, visitor),
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
        visitor: Visitor,
        request_id: str | None = None,
        also: Iterable[str] = (),
        read: Callable[[list[str]], Awaitable[list[Any]]] | None = None,
    ) -> tuple[dict[str, Markup], dict[str, Any] | None]:
        """Every fragment's HTML by slot (cached, fetched, last good, or empty; never raises),
        and the values of the Redis keys ``also`` read in the same ``MGET`` (None when Redis
        did not answer). ``read`` replaces the ``MGET`` (called even with no keys): a caller
        that reads more in the same round trip (a member's shared frame, memberframe.py)."""
        refs = list(refs)
        plans, found = await self._read_cache(refs, visitor, also, read)
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
            metrics.count_fragment(self.app_name, plan.ref.app, fresh is not None)
            if fresh is not None:
                results[plan.ref.slot] = Markup(fresh)  # noqa: S704 - HTML rendered by our own app
            else:
                refresh[plan.ref.slot] = self._refresh(plan, visitor, request_id)
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

    def per_user(self, fragment_id: str) -> bool | None:
        """Whether the fragment varies per user, as learned in this process (None: not yet)."""
        return self._per_user.get(fragment_id)

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
        self,
        refs: list[FragmentRef],
        visitor: Visitor,
        also: Iterable[str] = (),
        read: Callable[[list[str]], Awaitable[list[Any]]] | None = None,
    ) -> tuple[list[_Plan], dict[str, Any] | None]:
        plans: list[_Plan] = []
        wanted: dict[str, None] = dict.fromkeys(also)  # ordered and unique
        for ref in refs:
            keys = _keys(ref, visitor)
            per_user = self._per_user.get(ref.id)
            plans.append(_Plan(ref, keys, per_user))
            if per_user is not True:
                wanted.update(dict.fromkeys((keys.shared, keys.version)))
            if per_user is not False:
                wanted.update(dict.fromkeys((keys.personal, keys.version, keys.personal_version)))
        names = list(wanted)
        if not names and read is None:
            return plans, {}
        reader = read or self.redis.mget
        ok, values = await self._redis_call(lambda: reader(names))
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
        self, plan: _Plan, visitor: Visitor, request_id: str | None
    ) -> Awaitable[str | None]:
        """One fetch per key at a time in this process; the result is shared by all waiters."""
        personal = plan.per_user is not False
        storage = plan.keys.personal if personal else plan.keys.shared
        flight = (storage, tuple(sorted((plan.versions or {}).items())))
        task = self._inflight.get(flight)
        if task is None:
            task = asyncio.ensure_future(self._fetch_and_store(plan, visitor, request_id))
            self._inflight[flight] = task
            task.add_done_callback(lambda _t: self._inflight.pop(flight, None))
        # Shielded: a page that gives up (or is cancelled) never cancels a fetch others await.
        return asyncio.shield(task)

    async def _fetch_and_store(
        self, plan: _Plan, visitor: Visitor, request_id: str | None
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
            sent_visitor = visitor if personal else ANONYMOUS
            html, ttl_s, per_user = await self._fetch(ref, sent_visitor, request_id)
        except _FetchFailed as err:
            metrics.count_fragment_failure(self.app_name, ref.app)
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
        self, ref: FragmentRef, visitor: Visitor, request_id: str | None
    ) -> tuple[str, int, bool]:
        """(HTML, TTL, per-user) from the provider, or :class:`_FetchFailed`."""
        local = self._own_shared_fragment(ref)
        if local is not None:
            return await self._render_here(ref, local)
        secret = self.settings.secrets.internal_secret
        if self.http is None or not secret:
            raise _FetchFailed("fragments are not set up in this process", transport=False)
        path = ROUTE.replace("<type>", ref.type)
        query, headers = internal_auth.sign(secret, "GET", path, ref.args, visitor)
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

    def _own_shared_fragment(self, ref: FragmentRef) -> FragmentSpec | None:
        """The spec of a fragment this very app provides and shares with everyone (the blog's
        nav on the blog's pages): rendered here rather than asked of ourselves over HTTP,
        which cost the app a whole second request per page when the copy was outdated."""
        if ref.app != self.app_name or not has_app_context():
            return None
        provided = provided_fragments(current_app)
        spec = provided.specs.get(ref.type) if provided is not None else None
        return spec if spec is not None and not spec.per_user else None

    async def _render_here(self, ref: FragmentRef, spec: FragmentSpec) -> tuple[str, int, bool]:
        """Render an own shared fragment as its internal request would: in a context of its
        own (a fresh ``g``: no member, no session, its own database session, closed after),
        for the anonymous visitor."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        path = ROUTE.replace("<type>", ref.type)
        args = dict(ref.args)
        try:
            async with asyncio.timeout(self.settings.fragments.timeout_s):
                async with app.app_context(), app.test_request_context(path, query_string=args):
                    html = await spec.handler(FragmentRequest(ANONYMOUS, args))
        except TimeoutError:
            raise _FetchFailed(
                f"not rendered within {self.settings.fragments.timeout_s}s", transport=False
            ) from None
        except Exception as err:  # a bug of the handler: as if its app had answered 500
            log.exception("rendering fragment %s failed", ref.id)
            raise _FetchFailed(f"{type(err).__name__}", transport=False) from None
        return html, spec.ttl_s, False

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
