"""The "double knock": which signature scheme to use with a host, learned by trying.

As Fedify and current Mastodon do, a signed request to a host we know nothing about is signed
with RFC 9421 first; if the host refuses it (400, 401 or 403), the same request is sent again
signed with draft-cavage. Whichever scheme the host accepted is remembered for that host (in
Redis, for ``SCHEME_TTL_S``; by the caller itself when there is no Redis) and used first next time;
if a remembered scheme is refused later (the host changed software), the other is tried and
the memory follows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.exceptions import RedisError

from shared.infrastructure.activitypub import rfc9421, signatures

log = logging.getLogger(__name__)

RFC9421 = "rfc9421"
CAVAGE = "draft-cavage"
SCHEMES = (RFC9421, CAVAGE)
# What a host answers when it does not read the signature it got.
REFUSALS = frozenset({400, 401, 403})
SCHEME_TTL_S = 30 * 24 * 3600
PREFIX = "ap:sigscheme:"

R = TypeVar("R")


class SchemeMemory(Protocol):
    async def get(self, host: str) -> str | None: ...

    async def remember(self, host: str, scheme: str) -> None: ...


class LocalSchemes:
    """What this process learned (the fallback without Redis, and in unit tests)."""

    def __init__(self) -> None:
        self.schemes: dict[str, str] = {}

    async def get(self, host: str) -> str | None:
        return self.schemes.get(host)

    async def remember(self, host: str, scheme: str) -> None:
        self.schemes[host] = scheme


class RedisSchemes:
    """Shared by every app and the worker, kept for ``SCHEME_TTL_S`` after it was learned."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.local = LocalSchemes()

    async def get(self, host: str) -> str | None:
        try:
            value = await self.redis.get(PREFIX + host)
        except RedisError:
            return await self.local.get(host)
        if isinstance(value, bytes):
            value = value.decode()
        return value if value in SCHEMES else None

    async def remember(self, host: str, scheme: str) -> None:
        await self.local.remember(host, scheme)
        try:
            await self.redis.set(PREFIX + host, scheme, ex=SCHEME_TTL_S)
        except RedisError:
            log.warning("could not remember the signature scheme of %s", host)


def memory_for(redis: aioredis.Redis | None) -> SchemeMemory:
    """Redis's memory, shared and kept; without Redis, a memory of the caller's own."""
    return RedisSchemes(redis) if redis is not None else LocalSchemes()


def signed_headers(
    scheme: str,
    method: str,
    url: str,
    *,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    body: bytes | None = None,
    content_type: str = "application/activity+json",
    extra_headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """The request's headers signed with ``scheme``."""
    sign = rfc9421.sign_request if scheme == RFC9421 else signatures.sign_request
    return sign(
        method,
        url,
        key_id=key_id,
        private_key=private_key,
        body=body,
        content_type=content_type,
        extra_headers=extra_headers,
        now=now,
    )


async def double_knock(
    memory: SchemeMemory,
    url: str,
    attempt: Callable[[str], Awaitable[R]],
    status_of: Callable[[R], int | None],
) -> R:
    """``attempt(scheme)`` with the host's scheme (RFC 9421 if unknown), and with the other one
    if that is refused; remember the scheme the host accepted."""
    host = urlsplit(url).netloc.lower()
    known = await memory.get(host)
    first = known or RFC9421
    result = await attempt(first)
    code = status_of(result)
    if code is None:
        return result  # no answer: nothing learned
    if code not in REFUSALS:
        if known is None:
            await memory.remember(host, first)
        return result
    other = CAVAGE if first == RFC9421 else RFC9421
    retried = await attempt(other)
    code = status_of(retried)
    if code is not None and code not in REFUSALS:
        await memory.remember(host, other)
    return retried
