"""Prometheus metrics (``prometheus_client``): what every app and the worker count, and
``/metrics``, which serves them only to a scraper holding the token.

Every process counts its requests per route (the route's rule, ``/post/<slug>/``, never the
raw path: the label's values stay as few as the routes), their latency, the page cache's and
the fragment cache's hits and misses, the fragment fetches that failed per providing app, and
its database pool's connections in use. The worker adds the queues and the last runs, read from
the database when it is scraped (shared/tooling/worker_metrics.py).

``/metrics`` answers only a request carrying ``Authorization: Bearer <ROSE_METRICS_TOKEN>``
(the stack's Prometheus reads the token from a Docker secret); a wrong token is a 401, and
without the setting the address answers 404 like any page that does not exist. Decision 0084.

``rose-ash serve`` runs several Hypercorn processes per app: it points
``PROMETHEUS_MULTIPROC_DIR`` at a directory of its own before they start, and ``/metrics`` then
adds up every process's figures (prometheus_client's multiprocess mode) whichever process
answers the scrape.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from quart import Quart, Response, request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect

from shared.infrastructure.logs import REQUEST_LOGGER

request_log = logging.getLogger(REQUEST_LOGGER)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
# Methods a route may be asked with; anything else a stranger sends counts as one label.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "(unmatched)"

HTTP_REQUESTS = Counter(
    "rose_ash_http_requests_total",
    "Requests answered, by app, route rule, method and status.",
    ["app", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "rose_ash_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by app and route rule.",
    ["app", "route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PAGE_CACHE = Counter(
    "rose_ash_page_cache_requests_total",
    "Anonymous pages looked up in the page cache: outcome is hit or miss.",
    ["app", "outcome"],
)
FRAGMENT_CACHE = Counter(
    "rose_ash_fragment_cache_requests_total",
    "Fragments a page needed, by providing app: outcome is hit (cached) or miss (fetched).",
    ["app", "provider", "outcome"],
)
FRAGMENT_FAILURES = Counter(
    "rose_ash_fragment_fetch_failures_total",
    "Fragment fetches that failed (unreachable, timed out or refused), by providing app.",
    ["app", "provider"],
)
DB_POOL_IN_USE = Gauge(
    "rose_ash_db_pool_connections_in_use",
    "Database connections checked out of the pool now.",
    ["app"],
    multiprocess_mode="livesum",
)
DB_POOL_LIMIT = Gauge(
    "rose_ash_db_pool_connections_limit",
    "The most connections the pool may hold (pool_size + max_overflow).",
    ["app"],
    multiprocess_mode="livesum",
)


def count_page_cache(app: str, hit: bool) -> None:
    PAGE_CACHE.labels(app, "hit" if hit else "miss").inc()


def count_fragment(app: str, provider: str, hit: bool) -> None:
    FRAGMENT_CACHE.labels(app, provider, "hit" if hit else "miss").inc()


def count_fragment_failure(app: str, provider: str) -> None:
    FRAGMENT_FAILURES.labels(app, provider).inc()


def watch_pool(engine: AsyncEngine, app: str, limit: int) -> None:
    """Count the engine's checked-out connections (SQLAlchemy's pool events)."""
    in_use = DB_POOL_IN_USE.labels(app)
    DB_POOL_LIMIT.labels(app).set(limit)

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(*_args: Any) -> None:
        in_use.inc()

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(*_args: Any) -> None:
        in_use.dec()


@functools.lru_cache(maxsize=4096)
def route_of(url_map: Map, path: str, method: str, *, redirected: bool = False) -> str:
    """The rule ``path`` matches (``/post/<slug>/``), or ``(unmatched)``: a label that takes
    as many values as the app has routes, whatever strangers ask for. Remembered for the
    paths last asked (every request is counted, a page-cache hit too, and most ask again)."""
    try:
        rule, _args = url_map.bind("rose-ash").match(path, method=method, return_rule=True)
    except RequestRedirect as redirect:
        # A missing trailing slash: counted under the rule it is redirected to.
        target = urlsplit(redirect.new_url).path
        if redirected or target == path:
            return UNMATCHED
        return route_of(url_map, target, method, redirected=True)
    except (NotFound, MethodNotAllowed):
        return UNMATCHED
    except Exception:
        # Whatever else a path makes the router raise (a converter refusing it) is not a route.
        return UNMATCHED
    return str(rule.rule)


ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


async def observe_http(
    app_name: str,
    url_map: Map,
    scope: dict[str, Any],
    receive: Callable[..., Any],
    send: Callable[..., Any],
    inner: ASGIApp,
) -> None:
    """Run ``inner`` and count its answer (the page cache's hits included)."""
    started = time.perf_counter()
    status = 500
    request_id = "-"

    async def sending(message: dict[str, Any]) -> None:
        nonlocal status, request_id
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for name, value in message.get("headers", ()):
                if name.lower() == b"x-request-id":
                    request_id = value.decode("latin-1")
        await send(message)

    try:
        await inner(scope, receive, sending)
    finally:
        elapsed = time.perf_counter() - started
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = route_of(url_map, scope["path"], method)
        HTTP_REQUESTS.labels(app_name, route, method, str(status)).inc()
        HTTP_DURATION.labels(app_name, route, method).observe(elapsed)
        if request_log.isEnabledFor(logging.INFO):
            request_log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "app_name": app_name,
                    "request_id": request_id,
                    "route": route,
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )


def collecting_registry() -> CollectorRegistry:
    """Every process's figures in multiprocess mode, else this process's."""
    if os.environ.get(MULTIPROC_ENV):
        collected = CollectorRegistry()
        MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    return REGISTRY


class Exposition:
    """What ``/metrics`` answers: (status, headers, body) for an ``Authorization`` header."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def refusal(self, authorization: str | None) -> tuple[int, dict[str, str], bytes] | None:
        """The answer to a scrape without the token (404 when none is configured), or None."""
        if not self.token:
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        ):
            return 401, {"WWW-Authenticate": "Bearer", "Content-Type": "text/plain"}, b"no\n"
        return None

    def answer(
        self, authorization: str | None, *registries: CollectorRegistry
    ) -> tuple[int, dict[str, str], bytes]:
        refused = self.refusal(authorization)
        if refused is not None:
            return refused
        # The text format allows families one after another, so registries concatenate.
        body = b"".join(generate_latest(r) for r in (registries or (collecting_registry(),)))
        return 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}, body


def install(app: Quart, name: str, token: str | None, engine: AsyncEngine, pool_limit: int) -> None:
    """``/metrics`` on ``app`` and its pool watched (the factory calls it for every app)."""
    watch_pool(engine, name, pool_limit)
    for outcome in ("hit", "miss"):
        PAGE_CACHE.labels(name, outcome)  # both series exist from the start, at 0
    exposition = Exposition(token)

    @app.get(METRICS_PATH)
    async def metrics() -> Response:
        """Prometheus's scrape (bearer token only; 404 when no token is configured)."""
        status, headers, body = exposition.answer(request.headers.get("Authorization"))
        return Response(body, status=status, headers=headers)
