"""The async engine and session factory (SQLAlchemy 2 + asyncpg).

Every app gets one engine per process; each request gets one ``AsyncSession`` from
:func:`shared.infrastructure.factory.db_session`, committed when the handler succeeds and
rolled back when it raises.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from shared.config import Settings

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "rose_after_commit"
_LISTENING = "rose_after_commit_listening"


def async_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the asyncpg driver (``postgresql://`` is accepted)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    """The process's engine, with timeouts from the settings applied to every connection."""
    db = settings.database
    return create_async_engine(
        async_url(url or settings.require("database_url")),
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={
            "timeout": db.connect_timeout_s,
            "server_settings": {
                "statement_timeout": str(db.statement_timeout_ms),
                "lock_timeout": str(db.lock_timeout_ms),
                "application_name": "rose-ash",
            },
        },
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's work is committed (forgotten if it is rolled back).

    For effects outside PostgreSQL that must not run before the data is visible, such as
    invalidating cached fragments: invalidating earlier would let a reader cache the old data
    again under the new version. Requests run these after their commit; other code commits
    with :func:`commit`.
    """
    if _AFTER_COMMIT not in session.info:
        session.info[_AFTER_COMMIT] = []
        if not session.info.get(_LISTENING):
            session.info[_LISTENING] = True
            event.listen(session.sync_session, "after_soft_rollback", _forget_on_rollback)
    session.info[_AFTER_COMMIT].append(callback)


def _forget_on_rollback(session: Session, previous: SessionTransaction) -> None:
    # Only when the whole transaction is rolled back: a savepoint rolling back leaves the
    # rest of the transaction (and what it will invalidate) standing.
    if previous.parent is None:
        session.info.pop(_AFTER_COMMIT, None)


async def run_after_commit(session: AsyncSession) -> None:
    """Run (and forget) the :func:`after_commit` callbacks; each failure is logged."""
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            log.exception("an after-commit action failed")


def discard_after_commit(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT, None)


async def commit(session: AsyncSession) -> None:
    """Commit, then run the after-commit callbacks (for code outside a request)."""
    await session.commit()
    await run_after_commit(session)
