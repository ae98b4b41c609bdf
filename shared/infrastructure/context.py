"""What code running inside an app (or the worker, or a CLI command) reaches for: the process's
long-lived resources and the domain services, without knowing how the app was put together.

The bottom of the platform layer: it imports no other module of ``shared.infrastructure``, so
every platform module, and every domain service, can use it without a cycle.

* :func:`current_platform` - the app's :class:`Platform` (settings, engine, Redis);
  :func:`db_session` - the request's ``AsyncSession``, opened on first use and committed by the
  factory when the view returns; :func:`redis_client` - the app's Redis.
* :func:`services` - the domain services (:class:`shared.contracts.Services`). Nothing wires
  them on first use: an app installs its own at start-up (``create_base_app(...,
  services=build_services)``), and the worker, the CLI and the tests install the process's with
  :func:`use_services` (``shared.services.registry.build_services`` builds them).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import redis.asyncio as aioredis
from quart import current_app, g, has_app_context, request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts.services import Services

PLATFORM_EXTENSION = "rose"
SERVICES_EXTENSION = "rose_services"
# Marks the request's session, whose commits outdate cached pages before the request answers
# (pagecache.py).
REQUEST_SESSION = "rose.request_session"


@dataclass
class Platform:
    """The long-lived resources of one app process."""

    name: str
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis


def current_platform() -> Platform:
    """The resources of the app in context."""
    return current_app.extensions[PLATFORM_EXTENSION]  # type: ignore[no-any-return]


def db_session() -> AsyncSession:
    """The request's session, opened on first use."""
    session: AsyncSession | None = g.get("_db_session")
    if session is None:
        session = current_platform().session_factory()
        session.info[REQUEST_SESSION] = True
        g._db_session = session
    return session


def redis_client() -> aioredis.Redis:
    """The Redis client of the app in context."""
    return current_platform().redis


REDIS_MAX_CONNECTIONS = 100


def create_redis(url: str, timeout_s: float) -> aioredis.Redis:
    """A Redis client with the platform's short timeouts (``redis.timeout_s``) and blocking
    pool."""
    # Short timeouts: a Redis outage must cost a page milliseconds, not seconds.
    # A blocking pool: past its connections a request waits (as briefly) for one to come
    # free instead of failing at once; with redis-py's default pool a burst of 200 requests
    # (the benchmark's checkout) made the page cache and fragments take Redis for down.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)


def app_secret(settings: Settings, name: str, purpose: str) -> bytes:
    """A key derived per app and purpose, so one app's cookie is worthless at another."""
    master = settings.require("secret_key").encode()
    return hmac.new(master, f"{purpose}:{name}".encode(), hashlib.sha256).digest()


def wants_json() -> bool:
    """True when the request's client prefers JSON to HTML."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


_process_services: Services | None = None


def use_services(wired: Services | None) -> Services | None:
    """Install the process's services (the worker, the CLI, tests); returns the previous set."""
    global _process_services
    previous, _process_services = _process_services, wired
    return previous


def services() -> Services:
    """The services of the app in context, else the process's; never wired implicitly."""
    if has_app_context():
        own = current_app.extensions.get(SERVICES_EXTENSION)
        if isinstance(own, Services):
            return own
    if _process_services is None:
        raise RuntimeError(
            "no services installed: an app gets its own from create_base_app(services=...); "
            "a process calls shared.infrastructure.context.use_services(build_services(...))"
        )
    return _process_services
