"""Remote fetches: private addresses refused after DNS resolution, bounded size, time and
redirects, each hop checked again."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from shared.infrastructure.activitypub import keys
from shared.infrastructure.activitypub.fetch import (
    Fetcher,
    FetchError,
    ForbiddenAddress,
    address_allowed,
    guarded_client,
)
from tests.support.activitypub import LoopbackServer, Received
from tests.support.settings import make_settings


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "10.1.2.3",
        "172.16.0.5",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "fc00::1",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "224.0.0.1",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address: str) -> None:
    assert address_allowed(address, allow_private=False) is False


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(address, allow_private=False) is True


def test_loopback_is_allowed_only_when_configured() -> None:
    assert address_allowed("127.0.0.1", allow_private=True) is True


@pytest.fixture
def strict(settings: Settings) -> Settings:
    return make_settings(
        settings.require("database_url"),
        settings.require("redis_url"),
        ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES="false",
    )


@pytest.fixture
async def strict_fetcher(strict: Settings) -> AsyncIterator[Fetcher]:
    async with guarded_client(strict) as client:
        yield Fetcher(strict, client)


@pytest.fixture
async def fetcher(settings: Settings) -> AsyncIterator[Fetcher]:
    async with guarded_client(settings) as client:
        yield Fetcher(settings, client, key_id="http://127.0.0.1:8001/ap/users/blog#main-key")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/users/x",  # a name that resolves to loopback
        "http://127.0.0.1:{port}/users/x",
        "http://[::1]:{port}/users/x",
        "http://2130706433:{port}/users/x",  # 127.0.0.1 as an integer
    ],
)
async def test_fetches_to_loopback_are_refused_after_resolution(
    strict_fetcher: Fetcher, remote: LoopbackServer, url: str
) -> None:
    remote.documents[f"{remote.base()}/users/x"] = {"id": "x"}
    with pytest.raises(ForbiddenAddress) as err:
        await strict_fetcher.get(url.format(port=remote.ports[0]))
    assert err.value.code == "address_forbidden"
    assert remote.received == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "http://u:p@x.test/"])
async def test_only_plain_http_urls_are_fetched(strict_fetcher: Fetcher, url: str) -> None:
    with pytest.raises(ForbiddenAddress) as err:
        await strict_fetcher.get(url)
    assert err.value.code == "url_forbidden"


async def test_fetches_are_signed_gets(fetcher: Fetcher, remote: LoopbackServer) -> None:
    seen: list[Received] = []

    def respond(req: Received) -> tuple[int, bytes, str]:
        seen.append(req)
        return 200, json.dumps({"id": "x"}).encode(), "application/activity+json"

    remote.responder = respond
    assert (await fetcher.get_json(f"{remote.base()}/users/x")) == {"id": "x"}
    [req] = seen
    assert req.scheme == "rfc9421"
    assert '("@method" "@target-uri" "@authority")' in req.headers["Signature-Input"]
    assert req.verify(keys.public_key_pem(fetcher.settings)) == fetcher.key_id
    assert "application/activity+json" in req.headers["Accept"]
    # The User-Agent names this instance (not another site), as Mastodon's does.
    assert re.fullmatch(
        r"RoseAsh/\d+\.\d+\.\d+ \(httpx/[\d.]+; \+http://127\.0\.0\.1:8001/\)",
        req.headers["User-Agent"],
    ), req.headers["User-Agent"]


async def test_an_oversize_document_is_abandoned(
    fetcher: Fetcher, remote: LoopbackServer, settings: Settings
) -> None:
    big = b"x" * (settings.activitypub.max_body_bytes + 1)
    remote.responder = lambda req: (200, big, "application/activity+json")
    with pytest.raises(FetchError) as err:
        await fetcher.get(f"{remote.base()}/big")
    assert err.value.code == "fetch_too_large"


async def test_a_slow_server_times_out(remote: LoopbackServer, settings: Settings) -> None:
    quick = make_settings(
        settings.require("database_url"),
        settings.require("redis_url"),
        ROSE_ACTIVITYPUB__FETCH_TIMEOUT_S="0.3",
    )
    remote.delay_s = 2
    async with guarded_client(quick) as client:
        with pytest.raises(FetchError) as err:
            await Fetcher(quick, client).get(f"{remote.base()}/slow")
    assert err.value.code in ("fetch_timeout", "fetch_failed")


async def test_redirects_are_followed_and_bounded(fetcher: Fetcher, remote: LoopbackServer) -> None:
    base = remote.base()
    remote.documents[f"{base}/users/x"] = {"id": f"{base}/users/x"}
    remote.redirects["/@x"] = f"{base}/users/x"
    assert (await fetcher.get_json(f"{base}/@x"))["id"] == f"{base}/users/x"

    limit = fetcher.settings.activitypub.max_redirects
    for n in range(limit + 1):
        remote.redirects[f"/hop{n}"] = f"/hop{n + 1}"
    remote.documents[f"{base}/hop{limit + 1}"] = {"id": "too far"}
    with pytest.raises(FetchError) as err:
        await fetcher.get(f"{base}/hop0")
    assert err.value.code == "fetch_redirects"
    assert (await fetcher.get_json(f"{base}/hop1"))["id"] == "too far"  # one hop fewer is fine


async def test_each_redirect_hop_is_checked_again(fetcher: Fetcher, remote: LoopbackServer) -> None:
    remote.redirects["/start"] = "file:///etc/passwd"
    with pytest.raises(ForbiddenAddress) as err:
        await fetcher.get(f"{remote.base()}/start")
    assert err.value.code == "url_forbidden"


async def test_remote_servers_cookies_are_never_kept_nor_sent(settings: Settings) -> None:
    """A remote server that sets a cookie gets none back: deliveries and fetches are not a
    browser session (Mastodon's server-to-server requests carry no cookies either)."""
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            seen.append(head)
            writer.write(
                b"HTTP/1.1 202 Accepted\r\nSet-Cookie: tracker=abc123; Path=/\r\n"
                b"Content-Length: 0\r\n\r\n"
            )
            await writer.drain()
            if len(seen) == 2:
                break
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with guarded_client(settings) as client:
            for _ in range(2):
                resp = await client.post(f"http://127.0.0.1:{port}/inbox", content=b"{}")
                assert resp.status_code == 202
            assert not client.cookies
    finally:
        server.close()
        await server.wait_closed()
    assert len(seen) == 2
    assert all(b"cookie:" not in head.lower() for head in seen), seen
