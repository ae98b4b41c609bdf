"""The async engine and session factory (SQLAlchemy 2 + asyncpg).

Every app gets one engine per process; each request gets one ``AsyncSession`` from
:func:`shared.infrastructure.factory.db_session`, committed when the handler succeeds and
rolled back when it raises.

When PostgreSQL cannot be reached (refused, gone mid-statement, shutting down or starting up),
the engine raises :class:`DatabaseUnavailable` instead of the driver's error: apps answer it
with a 503 and the worker backs off. The outage is logged once when it starts and once when a
connection succeeds again, per engine, however many requests meet it; pooled connections are
pinged before use, so none left over from before the outage fails a request after it
(issue #27).
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import asyncpg
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, ExceptionContext, make_url
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


# The one Alembic history (shared/alembic); its head is the schema this code was built for.
ALEMBIC_DIR = Path(__file__).resolve().parent / "alembic"


@functools.cache
def code_schema() -> tuple[str, frozenset[str]]:
    """This code's Alembic head and every revision its history knows (read once)."""
    script = ScriptDirectory(str(ALEMBIC_DIR))
    (head,) = script.get_heads()
    return head, frozenset(r.revision for r in script.walk_revisions())


def schema_state(database_revision: str | None) -> Literal["current", "behind", "ahead"]:
    """Where a database's revision stands against this code's head.

    "ahead" is a revision this code does not know: a newer release migrated the database and
    this one is still draining (migrations expand before they contract, so it can keep serving).
    "behind" (or no revision at all) means `rose-ash migrate` has not run for this code yet.
    """
    head, known = code_schema()
    if database_revision == head:
        return "current"
    if database_revision is not None and database_revision not in known:
        return "ahead"
    return "behind"


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now; the driver's error is its ``__cause__``."""

    code = "database_unavailable"
    retry_after_s = 30


class DatabaseBusy(DatabaseUnavailable):
    """PostgreSQL is there but takes no more connections now: the process's pool stayed full
    for ``pool_timeout_s``, or the server refused a connection as one too many (SQLSTATE
    53300). Answered like an outage, with a shorter Retry-After; not logged as one."""

    code = "database_busy"
    retry_after_s = 5


# The driver's ways of saying the server is not there (as opposed to a query's own error).
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, no such socket, timed out (TimeoutError is an OSError)
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,  # starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
# Per engine, when its outage started (monotonic seconds); absent while all is well.
_down_since: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def _caused_by(err: BaseException | None, kinds: tuple[type[BaseException], ...]) -> bool:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, kinds):
            return True
        err = err.__cause__ or err.__context__
    return False


def _unreachable(err: BaseException | None) -> bool:
    return _caused_by(err, _UNREACHABLE)


# Busy is logged at most once a minute per engine: under load it can be every request.
_busy_logged: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def busy(engine: Engine, reason: str) -> DatabaseBusy:
    """The :class:`DatabaseBusy` to raise for ``engine``, logged at most once a minute."""
    now = time.monotonic()
    if now - _busy_logged.get(engine, -60.0) >= 60.0:
        _busy_logged[engine] = now
        log.warning("PostgreSQL is busy (%s); answering 503", reason)
    return DatabaseBusy(reason)


def _went_down(engine: Engine, err: BaseException) -> None:
    if engine not in _down_since:
        _down_since[engine] = time.monotonic()
        log.error("PostgreSQL is unreachable (%s); answering 503 until it is back", err)


def _watch(engine: Engine) -> None:
    """Turn the driver's connection failures into :class:`DatabaseUnavailable`, and log an
    outage's start and end once each."""

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as err:
            # The driver's adapter may have wrapped the server's answer: read the chain.
            if _caused_by(err, (asyncpg.TooManyConnectionsError,)):
                raise busy(engine, str(err)) from err
            if not _unreachable(err):
                raise
            _went_down(engine, err)
            raise DatabaseUnavailable(str(err)) from err

    @event.listens_for(engine, "connect")
    def connected(_dbapi_connection: Any, _record: Any) -> None:
        started = _down_since.pop(engine, None)
        if started is not None:
            log.warning("PostgreSQL is reachable again, after %.0f s", time.monotonic() - started)

    @event.listens_for(engine, "handle_error")
    def failed(context: ExceptionContext) -> BaseException | None:
        if context.is_pre_ping:
            return None  # the pool replaces that connection itself
        if not (context.is_disconnect or _unreachable(context.original_exception)):
            return None
        context.is_disconnect = True  # the pool's other connections are suspect too
        _went_down(engine, context.original_exception)
        return DatabaseUnavailable(str(context.original_exception))


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    """The process's engine, with timeouts from the settings applied to every connection."""
    db = settings.database
    engine = create_async_engine(
        async_url(url or settings.require("database_url")),
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_timeout=db.pool_timeout_s,
        # A connection left from before a restart of PostgreSQL is found out and replaced
        # before a request uses it.
        pool_pre_ping=True,
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
    _watch(engine.sync_engine)
    return engine


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
