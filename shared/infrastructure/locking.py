"""The one lock helper for scarce things: stock, ticket capacity, seats (STYLE.md rule 5).

Whoever is about to take from a scarce count first calls :func:`lock_objects` with every
``(kind, id)`` it will touch in this transaction. The helper takes PostgreSQL
transaction-scoped advisory locks on all of them, in one fixed order (by key), in one
statement; they are released by the commit or rollback. Because every caller locks in the same
order and locks only once per transaction, two checkouts that want the same two products
queue behind each other instead of deadlocking — the approach of pretix's ``lock_objects``.

The count itself is then read and written in the same transaction (see
``SqlCatalogService.reserve``): with the lock held nobody else can read the count between
our read and our write, so a stock of 10 yields exactly 10 reservations however many
checkouts race for it. The CHECK constraints on the counts are the last line of defence.

A transaction that needs things from several domains (a cart with products and tickets)
collects all their keys first (each provider's ``lock_keys``) and locks them together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import LockKey

_INFO_KEY = "rose_ash.locks"


class LockingError(RuntimeError):
    """A programming error: locks taken twice in one transaction, or a count changed without
    its lock (never a refusal a visitor should see)."""


def advisory_key(key: LockKey) -> int:
    """The signed 64-bit advisory-lock id of ``(kind, id)`` (stable across processes)."""
    kind, ident = key
    digest = hashlib.blake2b(f"rose-ash:{kind}:{ident}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_objects(session: AsyncSession, keys: Iterable[LockKey]) -> None:
    """Take transaction-scoped advisory locks on every ``(kind, id)`` key, in one fixed order,
    at most once per transaction (a second call in the same transaction raises)."""
    wanted = frozenset(keys)
    await session.connection()  # begins the transaction if none is open
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_INFO_KEY)
    if held is not None and held[0] is transaction:
        raise LockingError(
            "lock_objects was called twice in one transaction: collect every key first"
        )
    if wanted:
        ordered = sorted(advisory_key(key) for key in wanted)
        await session.execute(
            text(
                "SELECT pg_advisory_xact_lock(k) "
                "FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
            ),
            {"keys": ordered},
        )
    session.info[_INFO_KEY] = (transaction, wanted)


def require_locked(session: AsyncSession, keys: Iterable[LockKey]) -> None:
    """Raise :class:`LockingError` unless every key was locked in the current transaction."""
    held = session.info.get(_INFO_KEY)
    transaction = session.sync_session.get_transaction()
    locked = held[1] if held is not None and held[0] is transaction else frozenset()
    missing = [key for key in keys if key not in locked]
    if missing:
        raise LockingError(f"scarce counts changed without lock_objects: {missing}")
