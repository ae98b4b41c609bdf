"""Following the cooperative's own app actors from the social hub, end to end: the blog and
federation apps served for real on loopback, a member finds the blog's actor (by handle, and
on the local timeline), follows it, the Follow is delivered by the OutboxProcessor to the
blog's inbox, the blog accepts, and the blog's next published post reaches the member's home
timeline — every hop a signed HTTP request checked by the receiving app, as with any server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import PostInput
from shared.db import create_engine, create_session_factory
from shared.infrastructure.activitypub.actors import actor_urls
from shared.models import ApFollower, SocialFollow
from shared.services.federation.outbox import OutboxProcessor
from shared.services.registry import build_services
from tests.identity.factories import client_signed_in
from tests.support import BROWSER_ACCEPT, csrf_in
from tests.support.live import Platform

HTML = {"Accept": BROWSER_ACCEPT}


@pytest.fixture
async def platform(scratch_database_url: str, redis_url: str) -> AsyncIterator[Platform]:
    live = Platform(scratch_database_url, redis_url)
    try:
        await live.serve("federation", "blog")
        yield live
    finally:
        await live.close()


@pytest.fixture
async def sessions(platform: Platform) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(platform.settings())
    yield create_session_factory(engine)
    await engine.dispose()


async def signed_in(platform: Platform, sessions: Any, username: str) -> Client:
    account = await platform.member(username, display_name=username.title())
    async with sessions() as db, db.begin():
        sign_in = await build_services(platform.settings()).identity.start_session(db, account.id)
    client = await client_signed_in(platform.running["federation"].app, account.id, sign_in.sid)
    return client


async def page(client: Client, path: str) -> str:
    resp = await client.get(path, headers=HTML)
    assert resp.status_code == 200, path
    return await resp.get_data(as_text=True)


async def post_form(client: Client, platform: Platform, path: str, **fields: str) -> Any:
    token = csrf_in(await page(client, "/social"))
    return await client.post(
        path,
        form={"csrf_token": token, **fields},
        headers={"Origin": platform.url("federation")},
    )


async def drain(processor: OutboxProcessor, rounds: int = 6) -> None:
    """Run the worker until the outbox is quiet (each hop answers with more work)."""
    for _ in range(rounds):
        stats = await processor.run_once()
        if not (stats.fanned_out or stats.delivered or stats.retrying):
            return


async def test_a_member_follows_the_blog_actor_and_sees_its_next_post(
    platform: Platform, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings: Settings = platform.settings()
    blog = actor_urls(settings, "blog")
    ash = await signed_in(platform, sessions, "ash")

    # The local timeline lists the cooperative's own accounts; the handle finds the blog.
    local = await page(ash, "/social/local")
    assert "Rose Ash Blog" in local
    assert f"@{blog.handle}" in local
    resp = await ash.get(f"/social/search?q=@{blog.handle}", headers=HTML)
    assert resp.status_code == 303, await resp.get_data(as_text=True)
    account_path = resp.headers["Location"]
    assert account_path in local  # the same account as the one listed
    profile = await page(ash, account_path)
    assert "Rose Ash Blog" in profile

    resp = await post_form(ash, platform, f"{account_path}/follow")
    assert resp.status_code == 303
    async with sessions() as db:
        assert await db.scalar(select(SocialFollow.state)) == "pending"

    # The worker delivers the Follow to the blog's inbox, the blog accepts, the Accept comes
    # back to the member's inbox: all over HTTP, each signature checked.
    async with OutboxProcessor(settings, sessions, worker_id="app-actor-test") as processor:
        await drain(processor)
        async with sessions() as db:
            assert await db.scalar(select(SocialFollow.state)) == "accepted"
            follower = await db.scalar(select(ApFollower).where(ApFollower.actor_app == "blog"))
            assert follower is not None
            assert follower.actor_uri == f"{platform.url('federation')}/users/ash"
        assert 'data-follow-state="accepted"' in await page(ash, account_path)

        # The blog publishes a post: it arrives in the member's home timeline.
        async with sessions() as db, db.begin():
            service = build_services(settings).blog
            post = await service.create_post(
                db,
                PostInput(
                    title="Harvest supper on Friday",
                    html="<p>Long tables in the yard, and everything from the fields.</p>",
                    excerpt="Long tables in the yard.",
                ),
            )
            await service.publish(db, post.id)
        await drain(processor)

    home = await page(ash, "/social")
    timeline = home[home.index('aria-label="Home timeline"') :]
    assert "Harvest supper on Friday" in timeline
    assert re.search(
        r"Rose Ash Blog</strong> <span class=\"muted\">@" + re.escape(blog.handle), home
    )
