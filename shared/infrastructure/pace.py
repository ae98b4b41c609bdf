"""Paces: at most ``rate_per_s`` events a second, in one process or across every process.

:class:`SharedPace` keeps the pace in Redis, so N workers sending newsletters through one relay
send at most ``rate_per_s`` together, not N times it. Each event reserves the next free slot
with one script: ``slot = max(now, next)``, ``next = slot + 1 / rate_per_s``, then waits until
its slot. ``now`` is Redis's clock (``TIME``), the one clock every worker shares, so hosts whose
clocks differ still keep the pace. The key expires once the pace is idle.

While Redis is down the pace is kept in this process instead (:class:`LocalPace`, the same
rule on the process's monotonic clock), so sending goes on at the per-process rate; the switch
to it and back is logged once each, as the rate limits do (``shared/infrastructure/ratelimit.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1]: the pace's key; ARGV[1]: seconds between events. Returns the reserved slot and
# Redis's now, as strings (Lua numbers would be truncated to integers in the reply).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
local ttl = math.ceil((slot + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', ttl)
return {string.format('%.6f', slot), string.format('%.6f', now)}
"""


class Pace(Protocol):
    async def wait(self, rate_per_s: float) -> None:
        """Return when the next event may happen (at most ``rate_per_s`` a second)."""


class LocalPace:
    """The pace of one process."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # A test gives a clock and a wait of its own, and reads the pace from its waits.
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0

    async def wait(self, rate_per_s: float) -> None:
        now = self.clock()
        if self._next > now:
            await self.sleep(self._next - now)
        self._next = max(now, self._next) + 1.0 / rate_per_s


class SharedPace:
    """The pace of every process that shares ``key`` in one Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.key = key
        self.sleep = sleep
        self._script = redis.register_script(_RESERVE)
        # While Redis is down; ``clock`` is its (a test's own, in a test).
        self._local = LocalPace(clock, sleep)
        self._redis_down = False

    async def reserve(self, rate_per_s: float) -> tuple[float, float]:
        """The next free slot and Redis's now, both in seconds of Redis's clock."""
        slot, now = await self._script(keys=[self.key], args=[f"{1.0 / rate_per_s:.6f}"])
        return float(slot), float(now)

    async def wait(self, rate_per_s: float) -> None:
        try:
            slot, now = await self.reserve(rate_per_s)
        except (RedisError, OSError) as err:
            if not self._redis_down:
                self._redis_down = True
                log.warning("pace %s: Redis is down, pacing this process alone: %r", self.key, err)
            await self._local.wait(rate_per_s)
            return
        if self._redis_down:
            self._redis_down = False
            log.warning("pace %s: Redis is back, pacing with every process again", self.key)
        if slot > now:
            await self.sleep(slot - now)
