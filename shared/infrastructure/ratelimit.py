"""Rate limits kept in Redis: fixed windows per account and per client address.

    @bp.post("/signin")
    @rate_limited("signin", account_field="login")
    async def signin(): ...

The decorator counts every unsafe request to the view (GET renders the form freely) against
``rate_limits.<scope>`` in the settings, once under the client address and once under the
account: the one named by the form field (hashed: the key never holds an email address), or
else the signed-in member. Over either
limit the request is refused with 429 before the view runs. A meta-test checks that every
sign-in and reset endpoint carries the decorator, which leaves a mark it can see.

If Redis is down the same windows are counted in this process instead (:class:`LocalWindows`):
sign-in and reset stay limited per process, the site stays usable, and the switch to the
fallback and back is logged once each (issue #27: the limits used to fail open).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from quart import request
from redis.exceptions import RedisError

from shared.config import Limit, Settings
from shared.errors import DomainError
from shared.infrastructure.auth import current_user
from shared.infrastructure.context import current_platform
from shared.infrastructure.csrf import SAFE_METHODS

log = logging.getLogger(__name__)

KEY_PREFIX = "rose:rl:"

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class RateLimited(DomainError):
    status = 429

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, (retry_after_s + 59) // 60)
        super().__init__(
            "rate_limited",
            f"Too many attempts. Please wait {minutes} minute{'s' if minutes != 1 else ''} "
            "and try again.",
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RateLimitMark:
    """What the decorator leaves on a view, for the meta-test."""

    scope: str
    account_field: str | None


async def hit(redis: aioredis.Redis, key: str, limit: int, window_s: int) -> int | None:
    """Count one attempt under ``key``; None when allowed, else seconds until the window ends."""
    if limit <= 0:
        return None
    full = KEY_PREFIX + key
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(full, 0, ex=window_s, nx=True)
        pipe.incr(full)
        pipe.ttl(full)
        _, count, ttl = await pipe.execute()
    if int(count) > limit:
        return max(1, int(ttl))
    return None


class LocalWindows:
    """Fixed windows counted in this process: the limit while Redis cannot be reached.

    Each process counts on its own, so a client spread over N processes gets up to N times
    the limit: weaker than Redis, far stronger than none. At most ``max_keys`` windows are
    kept; expired ones go first, then the oldest (a flood of addresses cannot grow it)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, limit: int, window_s: int) -> int | None:
        """Like :func:`hit`, in this process's memory."""
        if limit <= 0:
            return None
        now = time.monotonic()
        ends, count = self._windows.get(key, (0.0, 0))
        if ends <= now:
            ends, count = now + window_s, 0
            self._make_room(now)
        self._windows[key] = (ends, count + 1)
        if count + 1 > limit:
            return max(1, int(ends - now + 0.999))
        return None

    def _make_room(self, now: float) -> None:
        if len(self._windows) < self.max_keys:
            return
        for key in [k for k, (ends, _) in self._windows.items() if ends <= now]:
            del self._windows[key]
        while len(self._windows) >= self.max_keys:
            del self._windows[next(iter(self._windows))]


_local = LocalWindows()
# The clients whose Redis was last seen down: the switch is logged once each way per client.
_down: weakref.WeakSet[aioredis.Redis] = weakref.WeakSet()


async def count(redis: aioredis.Redis, key: str, limit: int, window_s: int) -> int | None:
    """:func:`hit` in Redis, or in this process's :class:`LocalWindows` while Redis is down."""
    try:
        wait = await hit(redis, key, limit, window_s)
    except RedisError as err:
        if redis not in _down:
            _down.add(redis)
            log.warning("rate limits counted per process: Redis unavailable (%r)", err)
        return _local.hit(key, limit, window_s)
    if redis in _down:
        _down.discard(redis)
        log.warning("rate limits counted in Redis again")
    return wait


def client_address(trusted_proxy_hops: int) -> str:
    """The client's address: the peer, or the entry our N trusted proxies appended."""
    if trusted_proxy_hops > 0:
        forwarded = [
            part.strip()
            for part in request.headers.get("X-Forwarded-For", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= trusted_proxy_hops:
            return forwarded[-trusted_proxy_hops]
    return request.remote_addr or "unknown"


def account_key(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


async def check(
    redis: aioredis.Redis,
    settings: Settings,
    scope: str,
    *,
    address: str,
    account: str | None,
) -> None:
    """Count one attempt for ``scope``; raise :class:`RateLimited` when over a limit."""
    limit: Limit = getattr(settings.rate_limits, scope)
    keys: list[tuple[str, int]] = [(f"{scope}:addr:{address}", limit.per_address)]
    if account:
        keys.append((f"{scope}:acct:{account_key(account)}", limit.per_account))
    waits = [await count(redis, key, n, limit.window_s) for key, n in keys]
    refused = [w for w in waits if w is not None]
    if refused:
        log.warning("rate limit %s reached for %s", scope, address)
        raise RateLimited(max(refused))


def rate_limited(scope: str, *, account_field: str | None = None) -> Callable[[F], F]:
    """Limit unsafe requests to the view per address and (if given) per account field."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.method not in SAFE_METHODS:
                rose = current_platform()
                account = None
                if account_field is not None:
                    account = (await request.form).get(account_field) or None
                else:
                    user = current_user()
                    account = f"user:{user.id}" if user is not None else None
                await check(
                    rose.redis,
                    rose.settings,
                    scope,
                    address=client_address(rose.settings.trusted_proxy_hops),
                    account=account,
                )
            return await view(*args, **kwargs)

        wrapper._rate_limit = RateLimitMark(scope, account_field)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def rate_limit_mark(view: Callable[..., Any]) -> RateLimitMark | None:
    return getattr(view, "_rate_limit", None)
