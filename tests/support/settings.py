"""The tests' settings: fixed secrets, one RSA key per run, internal URLs where nothing listens,
and ``make_settings`` that builds a test's ``Settings`` from a database and a Redis URL."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from joserfc.jwk import RSAKey
from sqlalchemy.engine import make_url

from shared.config import APP_NAMES, Settings, load_settings
from shared.infrastructure.activitypub.keys import generate_private_key_pem
from shared.infrastructure.factory import RoseQuart
from tests.support import refusing_port

TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
TEST_INTERNAL_SECRET = "test-internal-secret-" + "y" * 32
# One RSA key for the whole run: it signs federation's ID tokens in every test.
TEST_OIDC_PRIVATE_KEY = RSAKey.generate_key(2048).as_pem(private=True).decode()

# What the ``make_app`` fixture gives a test: build an app by name, started.
AppMaker = Callable[..., Awaitable[RoseQuart]]


def asyncpg_dsn(url: str) -> tuple[str, dict[str, str]]:
    """A DSN asyncpg accepts, plus the host query (unix socket dir) when there is one."""
    parsed = make_url(url).set(drivername="postgresql")
    host = parsed.query.get("host")
    kwargs = {"host": str(host)} if host else {}
    return parsed.set(query={}).render_as_string(hide_password=False), kwargs


@functools.cache
def ap_private_key_for_tests() -> str:
    """One RSA key for the whole run: generating a 2048-bit key takes a noticeable moment."""
    return generate_private_key_pem()


def unreachable_internal_urls() -> dict[str, str]:
    """Internal URLs where nothing listens: a test's apps never reach the dev ports 8001-8006
    (someone may be running the platform there); tests that need providers start their own."""
    return {
        f"ROSE_APPS__{name.upper()}__INTERNAL_URL": f"http://127.0.0.1:{refusing_port()}"
        for name in APP_NAMES
    }


def make_settings(database_url: str, redis_url: str, **env: str) -> Settings:
    return load_settings(environ=settings_environ(database_url, redis_url, **env))


def settings_environ(database_url: str, redis_url: str, **env: str) -> dict[str, str]:
    """The variables of ``make_settings``: what a ``rose-ash`` process a test starts is given."""
    return {
        "ROSE_ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ROSE_SECRET_KEY": TEST_SECRET_KEY,
        "ROSE_INTERNAL_SECRET": TEST_INTERNAL_SECRET,
        "ROSE_AP_PRIVATE_KEY": ap_private_key_for_tests(),
        # Test peers listen on loopback.
        "ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES": "true",
        "ROSE_OIDC_PRIVATE_KEY": TEST_OIDC_PRIVATE_KEY,
        # Real argon2id, at a cost that keeps hundreds of sign-ins quick (the default
        # cost is checked in tests/identity/test_service.py).
        "ROSE_ACCOUNTS__ARGON2_TIME_COST": "1",
        "ROSE_ACCOUNTS__ARGON2_MEMORY_KIB": "8192",
        "ROSE_ACCOUNTS__ARGON2_PARALLELISM": "1",
        # Tests write through their own sessions and read pages right after: the full-page
        # cache is switched on by the tests that are about it
        # (tests/infrastructure/test_pagecache.py) and in every test that runs the platform as
        # `rose-ash up` does (browser journeys).
        "ROSE_PAGECACHE__ENABLED": "false",
        # The apps' own time limits, ample: apps under test share this process's event loop
        # (with each other and the garbage collector) on a loaded machine. A test about a
        # timeout sets a short one itself and asserts what was fetched, not seconds.
        "ROSE_FRAGMENTS__TIMEOUT_S": "10",
        "ROSE_REDIS__TIMEOUT_S": "10",
        # A new connection to PostgreSQL, too: at the default 5 s a run beside another suite
        # saw a connect time out, and a healthy blog answer 503 (database unavailable).
        "ROSE_DATABASE__CONNECT_TIMEOUT_S": "30",
        **unreachable_internal_urls(),
        # SumUp keys, and an address where nothing answers: tests that take payments start
        # the stand-in and point base_url at it (tests/cart).
        "ROSE_SUMUP_API_KEY": "sup_sk_test_" + "z" * 24,
        "ROSE_SUMUP_MERCHANT_CODE": "MTESTCODE",
        "ROSE_SUMUP__BASE_URL": f"http://127.0.0.1:{refusing_port()}",
        **env,
    }
