"""A member of the cooperative on the fediverse, against an independent implementation: the
Fedify peer's strict signature checks must accept what the member's own key signs.

The member finds ``peer`` by handle (WebFinger), follows it (the peer accepts), sees its post
in the home timeline; the peer follows the member back and receives the member's posts,
followers-only ones included; the peer replies to, likes and boosts a member's post and the
member is notified of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from shared.config import Settings
from shared.contracts import ComposeInput
from shared.db import create_engine, create_session_factory
from shared.services.federation.outbox import OutboxProcessor
from shared.services.registry import build_services
from tests.identity.factories import make_member
from tests.interop.conftest import Peer, Tls
from tests.support import GUARD_S, closed_port
from tests.support import eventually as until
from tests.support.committed import truncate
from tests.support.settings import make_settings

SOCIAL_TABLES = "social_accounts, users"


@pytest.fixture
async def federation_https(
    scratch_database_url: str, redis_url: str, tls: Tls
) -> AsyncIterator[Settings]:
    """The federation app, served by Hypercorn over HTTPS at https://127.0.0.1:<free port>."""
    from federation.app import create_app

    port = closed_port()
    settings = make_settings(
        scratch_database_url,
        redis_url,
        ROSE_APPS__FEDERATION__PORT=str(port),
        ROSE_APPS__FEDERATION__PUBLIC_URL=f"https://127.0.0.1:{port}",
        ROSE_APPS__FEDERATION__INTERNAL_URL=f"https://127.0.0.1:{port}",
    )
    await truncate(settings, SOCIAL_TABLES)
    app = create_app(settings)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = str(tls.cert_file)
    config.keyfile = str(tls.key_file)
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=str(tls.ca_file))
        ) as client:

            async def answers() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (
                        await client.get(f"https://127.0.0.1:{port}/healthz")
                    ).status_code == 200
                return False

            await until(answers, "federation answering over https")
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, GUARD_S)
        await truncate(settings, SOCIAL_TABLES)


async def control(client: httpx.AsyncClient, peer: Peer, path: str, **body: Any) -> Any:
    resp = await client.post(f"{peer.origin}/control/{path}", json=body)
    assert resp.status_code == 200, resp.text + "\n" + "\n".join(peer.output[-20:])
    return resp.json()


async def received(client: httpx.AsyncClient, peer: Peer) -> list[dict[str, Any]]:
    resp = await client.get(f"{peer.origin}/control/received")
    resp.raise_for_status()
    return list(resp.json())


async def eventually(check: Callable[[], Awaitable[bool]], what: str, peer: Peer) -> None:
    try:
        await until(check, what)
    except AssertionError as err:
        raise AssertionError(f"{err}:\n" + "\n".join(peer.output[-30:])) from None


async def test_a_member_follows_the_peer_reads_it_and_the_peer_talks_back(
    federation_https: Settings, peer: Peer, tls: Tls
) -> None:
    settings = federation_https
    social = build_services(settings).social
    base = settings.apps["federation"].public_url
    peer_host = peer.origin.split("://", 1)[1]
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    try:
        async with (
            httpx.AsyncClient(timeout=60) as client,
            OutboxProcessor(settings, factory, worker_id="interop-social") as worker,
        ):
            async with factory() as session, session.begin():
                ash = await make_member(session, "ash", display_name="Ash Grove")
                # By handle, through WebFinger on the peer (plain http on loopback).
                account = await social.resolve_account(session, f"@peer@{peer_host}")
                assert account.uri == peer.actor
                assert account.acct == f"peer@{peer_host}"
                relation = await social.follow(session, ash.id, account.id)
                assert relation.following == "pending"

            # Our Follow, signed with the member's own key, passes Fedify's checks; the
            # peer accepts and its Accept (verified by us) makes the follow real.
            assert (await worker.run_once()).delivered == 1

            async def accepted() -> bool:
                async with factory() as session:
                    rel = await social.relationship(session, ash.id, account.id)
                    return rel.following == "accepted"

            await eventually(accepted, "the peer's Accept", peer)
            followers = (await client.get(f"{peer.origin}/control/followers")).json()
            assert followers == [f"{base}/users/ash"]

            # The peer posts: it lands in the member's home timeline.
            await control(client, peer, "post", content="<p>Hello from the peer</p>")

            async def in_home() -> bool:
                async with factory() as session:
                    page = await social.home_timeline(session, ash.id, max_id=None, limit=20)
                    return any("Hello from the peer" in s.content for s in page.items)

            await eventually(in_home, "the peer's post in the home timeline", peer)

            # The peer follows the member back (WebFinger over https), and gets accepted.
            await control(client, peer, "follow", handle=f"ash@{base.split('://', 1)[1]}")
            await worker.run_once()

            async def accept_arrived() -> bool:
                return any(a["type"] == "Accept" for a in await received(client, peer))

            await eventually(accept_arrived, "our Accept at the peer", peer)

            # The member posts, publicly and to followers only: the peer receives both.
            async with factory() as session, session.begin():
                public = await social.compose(
                    session, ash.id, ComposeInput(text="Fresh bread at the co-op #bread")
                )
                await social.compose(
                    session,
                    ash.id,
                    ComposeInput(text="Followers only: the starter recipe", visibility="private"),
                )
            await worker.run_once()

            async def both_posts() -> bool:
                creates = [a for a in await received(client, peer) if a["type"] == "Create"]
                return len(creates) == 2

            await eventually(both_posts, "the member's posts at the peer", peer)
            creates = [a for a in await received(client, peer) if a["type"] == "Create"]
            assert {c["actor"] for c in creates} == {f"{base}/users/ash"}
            contents = " ".join(str(c["json"]["object"].get("content")) for c in creates)
            assert "Fresh bread" in contents
            assert "starter recipe" in contents
            # The followers-only post is not in the outbox a stranger reads.
            async with httpx.AsyncClient(
                verify=ssl.create_default_context(cafile=str(tls.ca_file))
            ) as stranger:
                outbox = (
                    await stranger.get(
                        f"{base}/users/ash/outbox?page=true",
                        headers={"Accept": "application/activity+json"},
                    )
                ).json()
            outbox_text = str(outbox["orderedItems"])
            assert "Fresh bread" in outbox_text
            assert "starter recipe" not in outbox_text

            # The peer replies to, likes and boosts the public post: the member is notified.
            await control(
                client,
                peer,
                "reply",
                inReplyTo=public.uri,
                author=f"{base}/users/ash",
                content="<p>Save me a loaf!</p>",
            )
            await control(client, peer, "like", object=public.uri, author=f"{base}/users/ash")
            await control(client, peer, "announce", object=public.uri, author=f"{base}/users/ash")

            async def notified() -> bool:
                async with factory() as session:
                    page = await social.notifications(session, ash.id, max_id=None, limit=20)
                    return {n.kind for n in page.items} >= {"reply", "like", "boost"}

            await eventually(notified, "the reply, like and boost notifications", peer)
            async with factory() as session:
                page = await social.notifications(session, ash.id, max_id=None, limit=20)
                reply = next(n for n in page.items if n.kind == "reply")
                assert reply.status is not None
                assert "Save me a loaf" in reply.status.content
                assert reply.account.uri == peer.actor
                assert await social.unread_count(session, ash.id) >= 3
            rejected = (await client.get(f"{peer.origin}/control/rejected")).json()
            assert rejected == []
    finally:
        await engine.dispose()
