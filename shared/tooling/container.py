"""Small steps the production containers run: ``python -m shared.tooling.container CMD``.

    wait-for-database [--timeout S]   retry PostgreSQL until it answers (entrypoint, before start)
    healthcheck [--url URL]           GET /readyz on the port the app is bound to (Dockerfile):
                                      unhealthy while the schema is behind this code's
    heartbeat [--max-age S]           the worker's heartbeat file is fresh (worker's health check)

They stay out of ``rose-ash`` because nothing but a container needs them, and they are Python so
the slim image needs neither ``pg_isready`` nor ``curl``. Each prints one line and exits non-zero
on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import async_url
from shared.tooling.heartbeat import DEFAULT_HEARTBEAT, HEARTBEAT_ENV, heartbeat_is_fresh

DEFAULT_BIND = "0.0.0.0:8000"


def _where(url: str) -> str:
    """Host, port and database of a URL, never its password."""
    u = make_url(url)
    host = u.host or u.query.get("host") or "localhost"
    return f"{host}:{u.port or 5432}/{u.database or ''}"


async def wait_for_database(url: str, timeout_s: float, *, interval_s: float = 1.0) -> str | None:
    """Connect until PostgreSQL answers ``SELECT 1``; None when it did, else the last error."""
    deadline = time.monotonic() + timeout_s
    last = "no attempt"
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        engine = create_async_engine(
            async_url(url),
            poolclass=pool.NullPool,
            connect_args={"timeout": max(0.5, min(5.0, remaining))},
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return None
        except Exception as err:  # any failure to connect means "not yet"
            last = f"{type(err).__name__}: {err}".splitlines()[0]
        finally:
            await engine.dispose()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return last
        if attempt == 1 or attempt % 10 == 0:
            print(
                f"waiting for PostgreSQL at {_where(url)} ({remaining:.0f} s left): {last}",
                file=sys.stderr,
                flush=True,
            )
        await asyncio.sleep(min(interval_s, remaining))


def healthcheck_url(bind: str) -> str:
    """The loopback /readyz URL for a Hypercorn bind such as ``0.0.0.0:8000``."""
    port = bind.rsplit(":", 1)[-1]
    if not port.isdigit():
        raise ValueError(f"ROSE_BIND {bind!r} has no port")
    return f"http://127.0.0.1:{port}/readyz"


def health_of(status: int, body: bytes) -> tuple[bool, str]:
    """Whether an answer of /readyz makes the container healthy, and why.

    Only the schema makes it unhealthy: an app whose database is behind the revision it was
    built for must not take traffic (a start-first update waits for it, then rolls back). A
    PostgreSQL or Redis outage is not the container's fault; replacing it would not help, so it
    stays healthy and /readyz, the logs and the metrics say what is down.
    """
    if status == 200:
        return True, "ready"
    try:
        answer = json.loads(body)
        down = list(answer["down"])
    except (ValueError, KeyError, TypeError):
        return False, f"HTTP {status}"
    if "schema" in down:
        schema = answer.get("schema") or {}
        return False, (
            f"the database is at schema {schema.get('database')}, this code needs "
            f"{schema.get('code')}: run `rose-ash migrate`"
        )
    return True, "serving; down: " + ", ".join(map(str, down))


def _cmd_wait(args: argparse.Namespace) -> int:
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set (environment variable)", file=sys.stderr)
        return 2
    error = asyncio.run(wait_for_database(url, args.timeout))
    if error is not None:
        print(
            f"PostgreSQL at {_where(url)} did not answer within {args.timeout:g} s: {error}",
            file=sys.stderr,
        )
        return 1
    print(f"PostgreSQL at {_where(url)} is up.")
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    url = args.url or healthcheck_url(os.environ.get("ROSE_BIND") or DEFAULT_BIND)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as resp:  # noqa: S310 - loopback
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        print(f"unhealthy: {url}: {err}", file=sys.stderr)
        return 1
    ok, why = health_of(status, body)
    print(
        f"{'healthy' if ok else 'unhealthy'}: {url}: {why}", file=sys.stdout if ok else sys.stderr
    )
    return 0 if ok else 1


def _cmd_heartbeat(args: argparse.Namespace) -> int:
    path = Path(os.environ.get(HEARTBEAT_ENV) or DEFAULT_HEARTBEAT)
    if heartbeat_is_fresh(path, args.max_age):
        print(f"healthy: {path} is fresh")
        return 0
    print(f"unhealthy: {path} missing or older than {args.max_age:g} s", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.tooling.container")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("wait-for-database", help="retry PostgreSQL (DATABASE_URL) until it answers")
    p.add_argument("--timeout", type=float, default=60.0, help="give up after S seconds")
    p.set_defaults(func=_cmd_wait)
    p = sub.add_parser("healthcheck", help="GET /readyz of this container's app")
    p.add_argument("--url", help="default: http://127.0.0.1:<port of ROSE_BIND>/readyz")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(func=_cmd_health)
    p = sub.add_parser("heartbeat", help="the worker's heartbeat file is fresh")
    p.add_argument("--max-age", type=float, default=60.0, help="seconds")
    p.set_defaults(func=_cmd_heartbeat)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
