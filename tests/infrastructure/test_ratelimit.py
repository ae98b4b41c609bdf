"""The Redis rate-limit helper: fixed windows, per address and account, counted per process
while Redis is down."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from shared.config import Settings
from shared.infrastructure.ratelimit import (
    KEY_PREFIX,
    LocalValues,
    LocalWindows,
    RateLimited,
    check,
    client_address,
    hit,
)
from shared.tooling.devservers import EmbeddedValkey
from tests.support import closed_port, eventually, refusing_port
from tests.support.settings import AppMaker, make_settings


async def test_a_window_allows_the_limit_then_refuses_until_it_ends(
    redis: aioredis.Redis,
) -> None:
    assert [await hit(redis, "t:a", 2, 60) for _ in range(2)] == [None, None]
    wait = await hit(redis, "t:a", 2, 60)
    assert wait is not None
    assert 0 < wait <= 60
    assert await hit(redis, "t:b", 2, 60) is None, "another key has its own window"
    # The window's time made up now rather than waited for: once Redis lets it go, a new
    # window starts.
    key = KEY_PREFIX + "t:a"

    async def ended() -> bool:
        return not await redis.exists(key)

    await redis.pexpire(key, 1)
    await eventually(ended, "the window ended")
    assert await hit(redis, "t:a", 2, 60) is None


async def test_account_keys_ignore_case_and_never_hold_the_address(
    redis: aioredis.Redis, settings: Settings
) -> None:
    limited = make_settings(
        "postgresql://unused", "redis://unused", ROSE_RATE_LIMITS__RESET__PER_ACCOUNT="1"
    )
    await check(redis, limited, "reset", address="10.0.0.1", account="Ann@Example.test")
    with pytest.raises(RateLimited):
        await check(redis, limited, "reset", address="10.0.0.2", account="ann@example.TEST")
    keys = [k.decode() for k in await redis.keys("*")]
    assert keys
    assert not any("example" in k.lower() for k in keys)


async def test_without_redis_the_limit_is_counted_in_the_process_and_logged_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    limited = make_settings(
        "postgresql://unused", "redis://unused", ROSE_RATE_LIMITS__SIGNIN__PER_ACCOUNT="3"
    )
    down = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{refusing_port()}/0", socket_connect_timeout=0.2
    )
    try:
        for _ in range(3):
            await check(down, limited, "signin", address="10.9.0.1", account="fallback-one")
        with pytest.raises(RateLimited) as refused:
            await check(down, limited, "signin", address="10.9.0.2", account="FALLBACK-one")
        assert refused.value.retry_after_s > 0
        # Another account still gets in.
        await check(down, limited, "signin", address="10.9.0.1", account="fallback-two")
    finally:
        await down.aclose()
    said = [r.getMessage() for r in caplog.records if "per process" in r.getMessage()]
    assert len(said) == 1, said


def test_the_local_windows_stay_bounded() -> None:
    windows = LocalWindows(max_keys=100)
    for n in range(1000):
        windows.hit(f"k{n}", 5, 60)
    assert len(windows._entries) <= 100
    assert [windows.hit("same", 2, 60) for _ in range(3)][:2] == [None, None]
    assert windows.hit("same", 2, 60) is not None


@pytest.mark.parametrize(
    ("hops", "forwarded", "peer", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.5", "10.0.0.5"),  # no proxy: the header is not trusted
        (1, "203.0.113.9", "10.0.0.5", "203.0.113.9"),  # behind Caddy
        (1, "6.6.6.6, 203.0.113.9", "10.0.0.5", "203.0.113.9"),  # a client-forged entry
        (2, "203.0.113.9, 10.0.0.7", "10.0.0.5", "203.0.113.9"),
        (1, "", "10.0.0.5", "10.0.0.5"),
    ],
)
async def test_the_client_address_trusts_only_our_own_proxies(
    make_app: AppMaker, hops: int, forwarded: str, peer: str, expected: str
) -> None:
    app = await make_app("federation")
    # Quart's ASGI layer puts the peer address in Remote-Addr (replacing any sent).
    headers = {"Remote-Addr": peer} | ({"X-Forwarded-For": forwarded} if forwarded else {})
    async with app.test_request_context("/", headers=headers):
        assert client_address(hops) == expected


async def test_redis_down_and_back_switches_to_the_process_and_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limited = make_settings(
        "postgresql://unused", "redis://unused", ROSE_RATE_LIMITS__RESET__PER_ACCOUNT="2"
    )
    folder = Path(tempfile.mkdtemp(prefix="rose-ash-valkey-"))
    server = EmbeddedValkey(
        folder, port=closed_port(), persist=False, password=secrets.token_urlsafe(16)
    )
    url = await asyncio.to_thread(server.start)
    client = aioredis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        await check(client, limited, "reset", address="10.8.0.1", account="down-and-back")
        assert await client.keys("rose:rl:reset:acct:*")

        await asyncio.to_thread(server.stop)
        # Down: this process counts a window of its own, and it holds.
        for _ in range(2):
            await check(client, limited, "reset", address="10.8.0.1", account="down-and-back")
        with pytest.raises(RateLimited):
            await check(client, limited, "reset", address="10.8.0.1", account="down-and-back")

        assert await asyncio.to_thread(server.start) == url
        # Counted in Redis again (a fresh server: its window starts over).
        await check(client, limited, "reset", address="10.8.0.1", account="down-and-back")
        assert await client.keys("rose:rl:reset:acct:*")
    finally:
        await client.aclose()
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(shutil.rmtree, folder, True)
    said = [r.getMessage() for r in caplog.records if r.name == "shared.infrastructure.ratelimit"]
    switches = [m for m in said if "counted" in m]
    assert len(switches) == 2, switches
    assert switches[0].startswith("rate limits counted per process: Redis unavailable")
    assert switches[1] == "rate limits counted in Redis again"


def test_the_local_values_expire_and_stay_bounded() -> None:
    values = LocalValues(max_keys=100)
    for n in range(1000):
        values.set(f"k{n}", n, 60)
    assert len(values._entries) <= 100
    assert [values.incr("failures", 60) for _ in range(3)] == [1, 2, 3]
    values.set("gone", 1, 0)
    assert values.get("gone") is None
    values.delete("failures")
    assert values.get("failures") is None
