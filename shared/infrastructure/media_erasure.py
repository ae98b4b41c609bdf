"""Erasing stored files where they live, retried until it is done and seen done (decision 0112).

A file whose last owner goes (:func:`shared.infrastructure.media.release`) is not removed by the
process that released it: that may be one without the store (in the stack the account app erases
a member, and mounts neither the blog's nor the social hub's media volume; an unlink there finds
nothing and the file stays served). The release writes a ``media_erasures`` row in its own
transaction instead, naming the file and its store (the domain whose upload it was), so the
erasure is as durable as the change that asked for it.

Each domain that stores uploads registers :func:`stage` for its store in the worker
(``shared/services/<domain>/stages.py``). The worker is where every store is: in the stack it
mounts both volumes at ``media.blog_root`` and ``media.social_root``; in `rose-ash up` they are
one directory (``media.root``); with the object store, one bucket every process reaches. Each
row is taken in a transaction of its own (``FOR UPDATE SKIP LOCKED``: workers side by side share
the rows, and each file is erased once), under the file's lock (the one an upload takes to
record its owner, so the two never interleave), and:

- if the file is owned or referenced again (uploaded anew, or named by a post) it is kept;
- otherwise it is removed, then looked for again: only a file seen gone (no such path in the
  store's directory, or the object store answering "not found") is marked erased;
- a failure (the store not mounted here, a read-only directory, the object store refusing) is
  logged once, in one line, and retried later, each wait twice the last (up to six hours). It
  is never given up: the worker's ``/metrics`` shows erasures pending for over an hour, and an
  alert fires (deploy/prometheus/alerts.yml).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import MediaSettings
from shared.infrastructure import media, objectstore
from shared.models import MediaErasure, MediaOwner

log = logging.getLogger(__name__)

# The first retry after this long, each later one twice as long, never longer than the cap.
RETRY_FIRST_S = 60
RETRY_MAX_S = 6 * 3600
# The most rows one call of the stage takes up (the worker calls it again while it does work).
BATCH = 20
# How long an erasure may wait before the operators' view calls it overdue.
OVERDUE_AFTER = timedelta(hours=1)


class NotErased(Exception):
    """The file could not be removed from its store, or is still there after removing it."""


def store_root(settings: MediaSettings, store: str) -> Path:
    """The directory holding ``store``'s files in this process (``media.<store>_root``, else
    ``media.root``)."""
    named = {"blog": settings.blog_root, "social": settings.social_root}.get(store, "")
    return Path(named or settings.root)


def erase_file(settings: MediaSettings, store: str, name: str) -> bool:
    """Remove the file ``name`` from ``store`` and check that it is gone; whether it was there.
    Blocking (run in a thread). :class:`NotErased` when it cannot be done here."""
    stored = f"{media.IMAGE_DIR}/{name}"
    if settings.backend == "s3":
        try:
            was = objectstore.remove(settings, stored)
            if objectstore.exists(settings, stored):
                raise NotErased("the object store still holds it after deleting it")
        except objectstore.ObjectStoreError as err:
            raise NotErased(f"the object store: {err}") from None
        return was
    directory = store_root(settings, store) / media.IMAGE_DIR
    # A store that is not here (the volume not mounted) would make every file look gone.
    if not directory.is_dir():
        raise NotErased(f"{directory} is not a directory here: the {store} store is not mounted")
    target = directory / name
    try:
        was = target.is_file()
        target.unlink(missing_ok=True)
    except OSError as err:
        raise NotErased(f"{target}: {err.strerror or err}") from None
    if target.exists() or target.is_symlink():
        raise NotErased(f"{target} is still there after removing it")
    return was


def retry_after(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure."""
    return timedelta(seconds=min(RETRY_FIRST_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S))


async def in_use(session: AsyncSession, name: str) -> bool:
    """Whether anybody owns the file ``name`` or any domain's row refers to it."""
    owned = await session.scalar(select(exists().where(MediaOwner.name == name)))
    return bool(owned) or await media.referenced(session, name)


async def erase_one(
    session_factory: async_sessionmaker[AsyncSession], settings: MediaSettings, store: str
) -> bool | None:
    """Take up the next due erasure of ``store`` in a transaction of its own: None when none
    was due; True when it was settled (erased, or kept as in use again); False when it failed
    and waits for its retry."""
    async with session_factory() as session, session.begin():
        row = await session.scalar(
            select(MediaErasure)
            .where(
                MediaErasure.store == store,
                MediaErasure.done_at.is_(None),
                MediaErasure.next_attempt_at <= func.now(),
            )
            .order_by(MediaErasure.next_attempt_at, MediaErasure.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if row is None:
            return None
        await media.lock_name(session, row.name)
        # The database's clock, as the rows' defaults: never the worker's against it.
        now = func.now()
        if await in_use(session, row.name):
            row.done_at, row.outcome, row.last_error = now, "kept", None
            log.info("media erasure: %s kept in the %s store: in use again", row.name, store)
            return True
        attempt = row.attempts + 1
        # Counted in the database: an attempt made twice (two workers on one row) shows.
        row.attempts = MediaErasure.attempts + 1
        try:
            was = await asyncio.to_thread(erase_file, settings, store, row.name)
        except NotErased as err:
            wait = retry_after(attempt)
            row.last_error = str(err)[:1000]
            row.next_attempt_at = now + wait
            log.warning(
                "media erasure: %s from the %s store failed (attempt %d, again in %ds): %s",
                row.name,
                store,
                attempt,
                wait.total_seconds(),
                err,
            )
            return False
        row.done_at, row.outcome, row.last_error = now, "erased", None
        log.info(
            "media erasure: %s %s the %s store",
            row.name,
            "erased from" if was else "already gone from",
            store,
        )
        return True


async def erase_due(
    session_factory: async_sessionmaker[AsyncSession],
    settings: MediaSettings,
    store: str,
    *,
    limit: int = BATCH,
) -> int:
    """Take up to ``limit`` due erasures of ``store``; returns how many were settled (a
    failure waits for its retry and is not counted, so the worker does not spin on it)."""
    settled = 0
    for _ in range(limit):
        outcome = await erase_one(session_factory, settings, store)
        if outcome is None:
            break
        settled += int(outcome)
    return settled


def stage(
    session_factory: async_sessionmaker[AsyncSession], settings: MediaSettings, store: str
) -> Callable[[], Awaitable[int]]:
    """A worker stage erasing ``store``'s due files (registered by the store's domain)."""

    async def run() -> int:
        return await erase_due(session_factory, settings, store)

    return run
