"""Rate limits kept in Redis: fixed windows per account and per client address.

    @bp.post("/reset")
    @rate_limited("reset", account_field="email")
    async def reset(): ...

The decorator counts every unsafe request to the view (GET renders the form freely) against
``rate_limits.<scope>`` in the settings, once under the client address and once under the
account: the one named by the form field (hashed: the key never holds an email address), or
else the signed-in member. Over either
limit the request is refused with 429 before the view runs. A meta-test checks that every
sign-in and reset endpoint carries the decorator, which leaves a mark it can see.

If Redis is down the same windows are counted in this process instead (:class:`LocalWindows`):
sign-in and reset stay limited per process, the site stays usable, and the switch to the
fallback and back is logged once each.

Sign-in adds :class:`SignInThrottle`: failed passwords counted per account, with a growing delay
that a device which signed in to the account before does not wait for (decision 0059). While
Redis is down it too counts in this process (:class:`LocalValues`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from itsdangerous import BadSignature, URLSafeSerializer
from quart import request
from redis.exceptions import RedisError
from werkzeug.sansio.response import Response

from shared.config import Limit, Settings
from shared.errors import DomainError
from shared.infrastructure.auth import current_user
from shared.infrastructure.context import app_secret, current_platform
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


class _Expiring:
    """Entries ``key -> (ends, value)`` kept in this process, at most ``max_keys`` of them:
    when full, expired ones go first, then the oldest (a flood of keys cannot grow it)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._entries: dict[str, tuple[float, Any]] = {}

    def _make_room(self, now: float) -> None:
        if len(self._entries) < self.max_keys:
            return
        for key in [k for k, (ends, _) in self._entries.items() if ends <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_keys:
            del self._entries[next(iter(self._entries))]


class LocalWindows(_Expiring):
    """Fixed windows counted in this process: the limit while Redis cannot be reached.

    Each process counts on its own, so a client spread over N processes gets up to N times
    the limit: weaker than Redis, far stronger than none. Bounded as :class:`_Expiring`."""

    def hit(self, key: str, limit: int, window_s: int) -> int | None:
        """Like :func:`hit`, in this process's memory."""
        if limit <= 0:
            return None
        now = time.monotonic()
        ends, count = self._entries.get(key, (0.0, 0))
        if ends <= now:
            ends, count = now + window_s, 0
            self._make_room(now)
        self._entries[key] = (ends, count + 1)
        if count + 1 > limit:
            return max(1, int(ends - now + 0.999))
        return None


class LocalValues(_Expiring):
    """Numbers that expire, kept in this process: the sign-in throttle's store while Redis
    cannot be reached (the same per-process trade as :class:`LocalWindows`, and as bounded)."""

    def get(self, key: str) -> float | None:
        ends, value = self._entries.get(key, (0.0, 0.0))
        return float(value) if ends > time.monotonic() else None

    def set(self, key: str, value: float, ttl_s: int) -> None:
        now = time.monotonic()
        if key not in self._entries:
            self._make_room(now)
        self._entries[key] = (now + ttl_s, value)

    def incr(self, key: str, ttl_s: int) -> int:
        """Like Redis's INCR then EXPIRE: one more, kept ``ttl_s`` from now."""
        value = int(self.get(key) or 0) + 1
        self.set(key, value, ttl_s)
        return value

    def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)


_local = LocalWindows()
_local_values = LocalValues()
# The clients whose Redis was last seen down: the switch is logged once each way per client.
_down: weakref.WeakSet[aioredis.Redis] = weakref.WeakSet()


def _went_down(redis: aioredis.Redis, err: RedisError) -> None:
    if redis not in _down:
        _down.add(redis)
        log.warning("rate limits counted per process: Redis unavailable (%r)", err)


def _came_back(redis: aioredis.Redis) -> None:
    if redis in _down:
        _down.discard(redis)
        log.warning("rate limits counted in Redis again")


async def count(redis: aioredis.Redis, key: str, limit: int, window_s: int) -> int | None:
    """:func:`hit` in Redis, or in this process's :class:`LocalWindows` while Redis is down."""
    try:
        wait = await hit(redis, key, limit, window_s)
    except RedisError as err:
        _went_down(redis, err)
        return _local.hit(key, limit, window_s)
    _came_back(redis)
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


# --- sign-in throttling per account (decision 0059) ----------------------------------------

# After the free failures (rate_limits.signin.per_account), each further failed password for an
# account makes that account wait before the next attempt from a device not known to it:
# 30 s, 60 s, 120 s ... never more than 15 minutes, so a stranger cannot lock the owner out
# for long, and forgotten a day after the last failure. A device the account signed in from
# before (a signed cookie) is not made to wait: it has its own count of failures instead.
DELAY_BASE_S = 30
DELAY_MAX_S = 15 * 60
FORGET_AFTER_S = 24 * 3600
DEVICE_COOKIE = "rose_signin_device"
DEVICE_COOKIE_MAX_AGE_S = 365 * 24 * 3600


def signin_subject(account_id: int | None, login: str) -> str:
    """What sign-in failures are counted against: the account, however it was named (email
    or username, any case), or what was typed when it names no account."""
    return f"user:{account_id}" if account_id is not None else f"login:{account_key(login)}"


@dataclass(frozen=True)
class SignInDevice:
    """A device that signed in to ``account_id`` before (from its cookie)."""

    account_id: int
    device_id: str


def _device_serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(app_secret(settings, "federation", "signin-device"))


def known_device(settings: Settings) -> SignInDevice | None:
    """The device this request's cookie proves, or None."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        value = _device_serializer(settings).loads(raw)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2):
        return None
    account_id, device_id = value
    if not isinstance(account_id, int) or not isinstance(device_id, str):
        return None
    return SignInDevice(account_id, device_id)


def remember_device(response: Response, settings: Settings, account_id: int) -> None:
    """Give the browser that has just signed in a device cookie for ``account_id``."""
    value = _device_serializer(settings).dumps([account_id, secrets.token_urlsafe(16)])
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_MAX_AGE_S,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Lax",
        path="/signin",
    )


class SignInThrottle:
    """Failures counted per account; see the comment above and decision 0059. While Redis is
    down they are counted in this process (:class:`LocalValues`), so an outage does not open
    unlimited guessing: each process still makes the account wait."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.free = settings.rate_limits.signin.per_account

    def _trusted(self, subject: str, device: SignInDevice | None) -> SignInDevice | None:
        return device if device is not None and subject == f"user:{device.account_id}" else None

    async def wait_s(self, subject: str, device: SignInDevice | None) -> int | None:
        """Seconds this attempt must wait (refused before the password is checked), or None."""
        if self.free <= 0:
            return None
        trusted = self._trusted(subject, device)
        if trusted is not None and int(await self._get(_device_key(trusted)) or 0) < self.free:
            return None
        wait = (await self._get(_account_key(subject)) or 0) - time.time()
        return max(1, math.ceil(wait)) if wait > 0 else None

    async def failed(self, subject: str, device: SignInDevice | None) -> None:
        """Count a wrong password for ``subject`` (or for the known device it came from)."""
        if self.free <= 0:
            return
        trusted = self._trusted(subject, device)
        if trusted is not None:
            await self._incr(_device_key(trusted))
            return
        failures = await self._incr(_account_key(subject) + ":n")
        if failures > self.free:
            delay = min(DELAY_MAX_S, DELAY_BASE_S * 2 ** min(failures - self.free - 1, 20))
            await self._set(_account_key(subject), time.time() + delay, delay)

    async def succeeded(self, subject: str, device: SignInDevice | None) -> None:
        """The right password: the account's (and the device's) failures are forgotten."""
        keys = [_account_key(subject), _account_key(subject) + ":n"]
        trusted = self._trusted(subject, device)
        if trusted is not None:
            keys.append(_device_key(trusted))
        # Forgotten in this process too, so that an outage later does not bring them back.
        _local_values.delete(*keys)
        try:
            await self.redis.delete(*keys)
        except RedisError as err:
            _went_down(self.redis, err)
            return
        _came_back(self.redis)

    # Redis, or this process's store while Redis is down (the switch logged as for windows).

    async def _get(self, key: str) -> float | None:
        try:
            raw = await self.redis.get(key)
        except RedisError as err:
            _went_down(self.redis, err)
            return _local_values.get(key)
        _came_back(self.redis)
        return None if raw is None else float(raw)

    async def _incr(self, key: str) -> int:
        """One more failure under ``key``, forgotten a day after the last."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, FORGET_AFTER_S)
                value = int((await pipe.execute())[0])
        except RedisError as err:
            _went_down(self.redis, err)
            return _local_values.incr(key, FORGET_AFTER_S)
        _came_back(self.redis)
        return value

    async def _set(self, key: str, value: float, ttl_s: int) -> None:
        try:
            await self.redis.set(key, value, ex=ttl_s)
        except RedisError as err:
            _went_down(self.redis, err)
            _local_values.set(key, value, ttl_s)
            return
        _came_back(self.redis)


def _account_key(subject: str) -> str:
    return f"{KEY_PREFIX}signin:fail:{subject}"


def _device_key(device: SignInDevice) -> str:
    return f"{KEY_PREFIX}signin:device:{device.device_id}"
