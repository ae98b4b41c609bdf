"""The Ghost sync against a real Ghost 5 (tests/interop/ghost_server.py): installed from the
npm registry, run on loopback with SQLite, filled through its Admin API by its integration
(so its posts are the owner's, id "1"): a post with a tag, a link to the About page and an
uploaded image as feature and inline image; a members-only post with a paywall card; a page;
the site navigation. Then the real `rose-ash ghost-sync`, webhook registration (twice, then
after a change of the blog's address), a webhook from Ghost to the running blog, the pages
members and visitors read, images from the media store, and Ghost's URLs on the blog.

By hand: ``pytest tests/interop/test_ghost.py`` (the first run installs Ghost into
``~/.cache/rose-ash/ghost-<version>``, which takes minutes; later runs reuse it).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from quart import Response, request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from shared.config import Settings
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import ApActivity, BlogAuthor, BlogPost
from shared.services.blog.ghost_webhooks import WEBHOOK_EVENTS
from tests.identity.factories import client_signed_in
from tests.interop.ghost_server import RealGhost, install_ghost, start_ghost
from tests.support import run_cli
from tests.support.live import Platform

WEBHOOK_SECRET = "interop-webhook-secret"
TEASER = "The opening lines, for everyone."
SECRET = "The budget, for members."


@pytest.fixture(scope="module")
def ghost_install() -> Path:
    return install_ghost()


@pytest.fixture
async def ghost(ghost_install: Path, tmp_path: Path) -> AsyncIterator[RealGhost]:
    async with start_ghost(ghost_install, tmp_path / "ghost") as running:
        yield running


@pytest.fixture
async def platform(scratch_database_url: str, redis_url: str) -> AsyncIterator[Platform]:
    live = Platform(scratch_database_url, redis_url)
    try:
        yield live
    finally:
        await live.close()


@pytest.fixture
async def engine(scratch_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(scratch_database_url)
    yield eng
    await eng.dispose()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), "teal").save(out, "PNG")
    return out.getvalue()


def _paragraph(text: str) -> dict[str, Any]:
    return {
        "children": [
            {
                "detail": 0,
                "format": 0,
                "mode": "normal",
                "style": "",
                "text": text,
                "type": "extended-text",
                "version": 1,
            }
        ],
        "direction": "ltr",
        "format": "",
        "indent": 0,
        "type": "paragraph",
        "version": 1,
    }


async def _fill(ghost: RealGhost) -> dict[str, Any]:
    """Ghost's content, made through its Admin API as the integration (the owner's posts)."""
    async with ghost.admin() as admin:
        upload = await admin.post(
            "/images/upload/",
            files={"file": ("market.png", _png(), "image/png")},
            data={"purpose": "image"},
        )
        assert upload.status_code == 201, upload.text
        image = upload.json()["images"][0]["url"]
        market = await admin.post(
            "/posts/",
            params={"source": "html"},
            json={
                "posts": [
                    {
                        "title": "Market day",
                        "status": "published",
                        "tags": [{"name": "News"}],
                        "feature_image": image,
                        "html": f'<p>Saturday at the market. <a href="{ghost.url}/about-us/">'
                        f'About us</a></p><figure class="kg-card kg-image-card"><img src="{image}"'
                        ' alt="The stalls"></figure>',
                    }
                ]
            },
        )
        assert market.status_code == 201, market.text
        lexical = {
            "root": {
                "children": [
                    _paragraph(TEASER),
                    {"type": "paywall", "version": 1},
                    _paragraph(SECRET),
                ],
                "direction": "ltr",
                "format": "",
                "indent": 0,
                "type": "root",
                "version": 1,
            }
        }
        members = await admin.post(
            "/posts/",
            json={
                "posts": [
                    {
                        "title": "Members minutes",
                        "status": "published",
                        "visibility": "members",
                        "lexical": json.dumps(lexical),
                    }
                ]
            },
        )
        assert members.status_code == 201, members.text
        about = await admin.post(
            "/pages/",
            params={"source": "html"},
            json={
                # Ghost names its own default page "about".
                "pages": [
                    {"title": "About us", "status": "published", "html": "<p>Who we are.</p>"}
                ]
            },
        )
        assert about.status_code == 201, about.text
    # The navigation is a staff's setting: an integration gets 501 for it.
    navigation = [{"label": "Home", "url": "/"}, {"label": "About", "url": "/about-us/"}]
    async with ghost.staff() as staff:
        settings = await staff.put(
            "/settings/",
            json={"settings": [{"key": "navigation", "value": json.dumps(navigation)}]},
        )
    assert settings.status_code == 200, settings.text
    return {
        "image": image,
        "market": market.json()["posts"][0],
        "members": members.json()["posts"][0],
        "about": about.json()["pages"][0],
    }


def _env(
    platform: Platform, settings: Settings, ghost: RealGhost, media: Path, **extra: str
) -> dict[str, str]:
    return {
        "DATABASE_URL": platform.database_url,
        "REDIS_URL": platform.redis_url,
        "ROSE_GHOST__URL": ghost.url,
        "ROSE_GHOST__TIMEOUT_S": "30",
        "ROSE_GHOST_CONTENT_KEY": ghost.content_key,
        "ROSE_GHOST_ADMIN_KEY": ghost.admin_key,
        "ROSE_GHOST_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ROSE_APPS__BLOG__PUBLIC_URL": settings.apps["blog"].public_url,
        "ROSE_MEDIA__ROOT": str(media),
        **extra,
    }


async def test_a_real_ghost_moves_to_the_blog(
    ghost: RealGhost, platform: Platform, engine: AsyncEngine, tmp_path: Path
) -> None:
    content = await _fill(ghost)
    # What the stand-in reproduces, checked on the real thing.
    assert ghost.owner_id == "1"
    assert content["about"]["slug"] == "about-us"
    assert content["market"]["authors"][0]["id"] == "1"
    gated = (await ghost.content("posts", filter="visibility:members", formats="html"))["posts"]
    assert [(p["access"], p["html"]) for p in gated] == [(False, f"<p>{TEASER}</p>")]

    media = tmp_path / "media"
    settings = platform.settings(
        ROSE_GHOST__URL=ghost.url,
        ROSE_GHOST__TIMEOUT_S="30",
        ROSE_GHOST__WEBHOOK_TIMEOUT_S="10",
        ROSE_GHOST_CONTENT_KEY=ghost.content_key,
        ROSE_GHOST_ADMIN_KEY=ghost.admin_key,
        ROSE_GHOST_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ROSE_MEDIA__ROOT=str(media),
    )
    answered: asyncio.Queue[int] = asyncio.Queue()

    def watch_webhooks(app: RoseQuart) -> None:
        @app.after_request
        async def seen(response: Response) -> Response:
            if request.path == "/webhooks/ghost":
                answered.put_nowait(response.status_code)
            return response

    blog = await platform.start("blog", settings, watch_webhooks)
    env = _env(platform, settings, ghost, media)

    # The sync: everything, counted as the Content API counts it.
    code, out, err = await run_cli("ghost-sync", "--quiet", env=env)
    assert code == 0, err + "\n".join(ghost.output[-40:])
    posts = (await ghost.content("posts", limit="1"))["meta"]["pagination"]["total"]
    pages = (await ghost.content("pages", limit="1"))["meta"]["pagination"]["total"]
    assert f"Ghost sync: {posts + pages} created, 0 updated" in out, out
    assert "1 images copied" in out, out  # the feature image is the inline one
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as db:
        rows = {p.ghost_id: p for p in (await db.scalars(select(BlogPost))).all()}
        owner = await db.scalar(select(BlogAuthor).where(BlogAuthor.ghost_id == "1"))
        creates = (
            await db.scalars(select(ApActivity).where(ApActivity.activity_type == "Create"))
        ).all()
    assert len(rows) == posts + pages
    assert owner is not None
    members = rows[content["members"]["id"]]
    assert TEASER in members.html
    assert SECRET in members.html
    assert TEASER in members.html[: members.paywall_at]
    assert SECRET not in members.html[: members.paywall_at]
    market = rows[content["market"]["id"]]
    assert market.feature_image is not None
    assert market.feature_image.startswith("/media/images/")
    assert ghost.url not in market.html
    assert 'href="/about-us/"' in market.html  # the page came after: the blog redirects it
    # Ghost's back catalogue is in the outbox, not sent to followers.
    assert creates
    assert not any(c.to_followers for c in creates)

    async with httpx.AsyncClient(base_url=blog.url, follow_redirects=False) as http:
        picture = await http.get(market.feature_image)
        assert (picture.status_code, picture.headers["Content-Type"]) == (200, "image/png")
        page = (await http.get("/posts/members-minutes")).text
        assert TEASER in page
        assert SECRET not in page
        for path, location in (
            ("/market-day/", "/posts/market-day"),
            ("/about-us/", "/pages/about-us"),
            ("/tag/news/", "/tag/news"),
            ("/author/site-owner/", "/author/site-owner"),
            ("/rss/", "/feed.xml"),
        ):
            response = await http.get(path)
            assert (response.status_code, response.headers.get("Location")) == (
                301,
                location,
            ), path
        home = (await http.get("/")).text
        assert re.search(r'href="[^"]*/pages/about-us"[^>]*>\s*About', home)

    member = await platform.member("mira")
    async with sessions() as db, db.begin():
        sign_in = await services().identity.start_session(db, member.id)
    reader = await platform.consumer("blog", settings)
    client = await client_signed_in(reader, member.id, sign_in.sid)
    page = await (await client.get("/posts/members-minutes")).get_data(as_text=True)
    assert TEASER in page
    assert SECRET in page

    # Webhooks: registered twice (exit 0), then moved from an old address to the blog's.
    old = _env(platform, settings, ghost, media, ROSE_APPS__BLOG__PUBLIC_URL="http://127.0.0.1:9")
    code, out, err = await run_cli("ghost-sync", "--register-webhooks", env=old)
    assert code == 0, err
    code, out, err = await run_cli("ghost-sync", "--register-webhooks", env=old)
    assert code == 0, err
    assert out.count("already registered") == len(WEBHOOK_EVENTS)
    code, out, err = await run_cli("ghost-sync", "--register-webhooks", env=env)
    assert code == 0, err
    assert out.count("replaced") == len(WEBHOOK_EVENTS)
    hooks = await ghost.webhooks()
    assert sorted(h["event"] for h in hooks) == sorted(WEBHOOK_EVENTS)
    assert {h["target_url"] for h in hooks} == {blog.url + "/webhooks/ghost"}

    # Ghost edits the post: its webhook reaches the running blog, which re-reads it.
    async with ghost.admin() as admin:
        edited = await admin.put(
            f"/posts/{content['market']['id']}/",
            params={"source": "html"},
            json={
                "posts": [
                    {
                        "title": "Market day moved",
                        "updated_at": content["market"]["updated_at"],
                    }
                ]
            },
        )
    assert edited.status_code == 200, edited.text

    async def title() -> str | None:
        async with sessions() as db:
            return await db.scalar(
                select(BlogPost.title).where(BlogPost.ghost_id == content["market"]["id"])
            )

    async with asyncio.timeout(60):  # each webhook Ghost sends wakes this up
        while await title() != "Market day moved":
            assert await answered.get() == 200
