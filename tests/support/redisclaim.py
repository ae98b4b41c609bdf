"""One test run per Redis database. The tests flush the database they are given, so a run
pointed at a server (``TEST_REDIS_URL``) holds a lock on that server's database for as long
as it runs, and a second run pointed at the same one stops at once, saying so, instead of
wiping the first run's keys. Without ``TEST_REDIS_URL`` each run has a Valkey of its own and
needs no lock. The lock is a file lock on this host: the kernel releases it however the run
ends."""

from __future__ import annotations

import tempfile
from pathlib import Path

from redis.connection import parse_url

from shared.tooling.devservers import PidLock


class RedisInUse(Exception):
    """Another run holds the database; the message is one line for a person."""


def where(url: str) -> str:
    """``host:port/db`` of a Redis URL (never its password)."""
    parts = parse_url(url)
    host = str(parts.get("host", "localhost"))
    if host in ("localhost", "::1"):
        host = "127.0.0.1"
    return f"{host}:{parts.get('port', 6379)}/{parts.get('db', 0)}"


def lock_file(url: str) -> Path:
    name = where(url).replace(":", "-").replace("/", "-")
    return Path(tempfile.gettempdir()) / f"rose-ash-test-redis-{name}.lock"


class RedisClaim(PidLock):
    """The lock of one run on the database of ``url``: :meth:`acquire`, then :meth:`release`."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(lock_file(url))

    def held(self, holder: str) -> Exception:
        return RedisInUse(
            f"TEST_REDIS_URL ({where(self.url)}) is in use by another test run "
            f"(pid {holder or 'unknown'}), whose tests flush it: give this run another database "
            "number, or unset TEST_REDIS_URL for a Valkey of its own"
        )
