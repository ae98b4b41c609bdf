"""Outdating cached fragments: by version, never by scanning keys (see the package's
docstring)."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from quart import current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import after_commit
from shared.infrastructure.fragments.refs import version_key
from shared.infrastructure.visitor import Visitor

log = logging.getLogger(__name__)


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
    key = version_key(fragment_id, owner)
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
