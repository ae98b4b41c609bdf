"""POST /webhooks/ghost: signed triggers that re-read from the Content API, never a 410."""

from __future__ import annotations

import time
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.infrastructure.context import services
from shared.models import BlogPost, BlogTag
from shared.services.blog.ghost import GhostContentClient
from shared.services.blog.ghost_sync import GhostSync
from shared.tooling.devservers import free_port
from tests.blog.factories import WEBHOOK_SECRET
from tests.standins.ghost import GhostStandIn
from tests.support.live import serve_app
from tests.support.settings import AppMaker


@pytest.fixture
async def blog(make_app: AppMaker, ghost_settings: Settings) -> Client:
    app = await make_app("blog", app_settings=ghost_settings)
    return app.test_client()


@pytest.fixture
async def synced(
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> dict[str, Any]:
    """One post, synced."""
    post = ghost.add_post("Market day", html="<p>Saturday</p>")
    async with GhostContentClient.from_settings(ghost_settings) as client:
        await GhostSync(session_factory, client, ghost_settings.ghost).run()
    return post


async def _post(blog: Client, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    resp = await blog.post("/webhooks/ghost", data=body, headers=headers)
    return resp.status_code, await resp.get_json()


async def _title(db: AsyncSession, ghost_id: str) -> str | None:
    db.expire_all()
    return await db.scalar(select(BlogPost.title).where(BlogPost.ghost_id == ghost_id))


async def test_a_signed_edit_re_reads_the_post_and_ignores_the_webhooks_copy(
    blog: Client, ghost: GhostStandIn, synced: dict[str, Any], db: AsyncSession
) -> None:
    ghost.edit(synced["id"], title="Market day moved", html="<p>Sunday</p>")
    forged = {**ghost.rendered(synced["id"]), "html": "<script>alert(1)</script>"}
    body, headers = ghost.webhook(
        "post.edited", WEBHOOK_SECRET, current=forged, previous={"title": "Market day"}
    )
    status, answer = await _post(blog, body, headers)
    assert (status, answer) == (200, {"status": "updated"})
    assert await _title(db, synced["id"]) == "Market day moved"
    html = await db.scalar(select(BlogPost.html).where(BlogPost.ghost_id == synced["id"]))
    assert html == "<p>Sunday</p>"
    # The re-read went to the Content API, for this post.
    assert any(path.endswith(f"/posts/{synced['id']}/") for path, _ in ghost.requests)


async def test_a_new_post_arrives_and_a_deleted_one_goes(
    blog: Client, ghost: GhostStandIn, synced: dict[str, Any], db: AsyncSession
) -> None:
    fresh = ghost.add_post("Brand new")
    body, headers = ghost.webhook(
        "post.published", WEBHOOK_SECRET, current=ghost.rendered(fresh["id"])
    )
    assert await _post(blog, body, headers) == (200, {"status": "created"})
    assert await _title(db, fresh["id"]) == "Brand new"

    # Deleting a published post: Ghost sends post.unpublished, then post.deleted.
    previous = ghost.rendered(synced["id"])
    ghost.remove(synced["id"])
    body, headers = ghost.webhook("post.unpublished", WEBHOOK_SECRET, current=previous)
    assert await _post(blog, body, headers) == (200, {"status": "deleted"})
    body, headers = ghost.webhook("post.deleted", WEBHOOK_SECRET, previous=previous)
    assert await _post(blog, body, headers) == (200, {"status": "absent"})
    assert await _title(db, synced["id"]) is None


async def test_page_and_tag_and_site_events(
    blog: Client, ghost: GhostStandIn, synced: dict[str, Any], db: AsyncSession
) -> None:
    page = ghost.add_post("Opening times", kind="pages")
    body, headers = ghost.webhook(
        "page.published", WEBHOOK_SECRET, current=ghost.rendered(page["id"], "pages")
    )
    assert await _post(blog, body, headers) == (200, {"status": "created"})
    assert (await services().blog.get_by_slug(db, "opening-times")).post.kind == "page"

    ghost.add_tag("Brand new tag")
    body, headers = ghost.webhook("tag.added", WEBHOOK_SECRET, current={"id": "b" * 24})
    assert await _post(blog, body, headers) == (200, {"status": "refreshed"})
    assert await db.scalar(select(BlogTag.name).where(BlogTag.slug == "brand-new-tag"))

    ghost.settings["navigation"] = [{"label": "Shop", "url": "/shop/"}]
    body, headers = ghost.webhook("site.changed", WEBHOOK_SECRET)
    assert await _post(blog, body, headers) == (200, {"status": "refreshed"})


def _signed_differently(ghost: GhostStandIn, post: dict[str, Any]) -> list[dict[str, str]]:
    _, good = ghost.webhook("post.edited", WEBHOOK_SECRET, current={"id": post["id"]})
    stale_ms = int((time.time() - 3600) * 1000)
    _, stale = ghost.webhook(
        "post.edited", WEBHOOK_SECRET, current={"id": post["id"]}, timestamp_ms=stale_ms
    )
    _, wrong = ghost.webhook("post.edited", "not-the-secret", current={"id": post["id"]})
    _, other = ghost.webhook("post.edited", WEBHOOK_SECRET, current={"id": "d" * 24})
    stamp = good["X-Ghost-Signature"].split("t=")[1]
    return [
        {},
        {"X-Ghost-Signature": ""},
        {"X-Ghost-Signature": "sha256=abc, t=" + stamp},
        {"X-Ghost-Signature": "sha1=" + "0" * 64 + ", t=" + stamp},
        {"X-Ghost-Signature": wrong["X-Ghost-Signature"]},
        {"X-Ghost-Signature": stale["X-Ghost-Signature"]},
        # A good, fresh signature of another body.
        {"X-Ghost-Signature": other["X-Ghost-Signature"]},
    ]


@pytest.mark.parametrize("case", range(7))
async def test_unsigned_wrongly_signed_or_stale_webhooks_are_refused(
    blog: Client,
    ghost: GhostStandIn,
    synced: dict[str, Any],
    db: AsyncSession,
    case: int,
) -> None:
    ghost.edit(synced["id"], title="Should not arrive")
    body, _ = ghost.webhook("post.edited", WEBHOOK_SECRET, current={"id": synced["id"]})
    headers = {"Content-Type": "application/json", **_signed_differently(ghost, synced)[case]}
    ghost.requests.clear()
    status, answer = await _post(blog, body, headers)
    assert status == 401
    assert answer["error"]["code"].startswith("signature_")
    assert ghost.requests == []  # nothing was re-read
    assert await _title(db, synced["id"]) == "Market day"


async def test_a_tampered_body_is_refused(
    blog: Client, ghost: GhostStandIn, synced: dict[str, Any]
) -> None:
    body, headers = ghost.webhook("post.deleted", WEBHOOK_SECRET, previous={"id": synced["id"]})
    tampered = body.replace(synced["id"].encode(), b"c" * 24)
    status, answer = await _post(blog, tampered, headers)
    assert (status, answer["error"]["code"]) == (401, "signature_invalid")


@pytest.mark.parametrize("failure", [500, 503, "timeout", "malformed", 401])
async def test_ghost_failing_on_the_re_read_answers_503_and_changes_nothing(
    blog: Client,
    ghost: GhostStandIn,
    synced: dict[str, Any],
    db: AsyncSession,
    failure: str | int,
) -> None:
    ghost.edit(synced["id"], title="Later")
    ghost.fail(failure)
    body, headers = ghost.webhook("post.edited", WEBHOOK_SECRET, current={"id": synced["id"]})
    status, _ = await _post(blog, body, headers)
    assert status == 503  # Ghost retries; never 410, which would delete the webhook
    assert await _title(db, synced["id"]) == "Market day"


async def test_a_signed_body_that_names_nothing_is_a_400(
    blog: Client, ghost: GhostStandIn, synced: dict[str, Any]
) -> None:
    body, headers = ghost.webhook("post.edited", WEBHOOK_SECRET, current={"title": "no id"})
    status, answer = await _post(blog, body, headers)
    assert (status, answer["error"]["code"]) == (400, "webhook_malformed")


async def test_without_a_configured_ghost_the_endpoint_is_404(
    make_app: AppMaker, ghost: GhostStandIn
) -> None:
    app = await make_app("blog")
    body, headers = ghost.webhook("post.edited", WEBHOOK_SECRET, current={"id": "a" * 24})
    resp = await app.test_client().post("/webhooks/ghost", data=body, headers=headers)
    assert resp.status_code == 404


async def test_a_webhook_over_real_http_from_the_stand_in(
    make_app: AppMaker,
    ghost_settings: Settings,
    ghost: GhostStandIn,
    synced: dict[str, Any],
    db: AsyncSession,
) -> None:
    """Ghost's side for real: the stand-in POSTs a signed webhook to the blog over HTTP."""
    app = await make_app("blog", app_settings=ghost_settings)
    server = await serve_app(app, free_port())  # answers /healthz before this returns
    try:
        ghost.edit(synced["id"], title="Market day, over HTTP")
        status = await ghost.send_webhook(
            f"{server.url}/webhooks/ghost",
            "post.edited",
            WEBHOOK_SECRET,
            current=ghost.rendered(synced["id"]),
        )
        assert status == 200
        assert await _title(db, synced["id"]) == "Market day, over HTTP"
        count = await db.scalar(select(func.count()).select_from(BlogPost))
        assert count == 1
    finally:
        await server.stop()
