"""Widgets in pages, with real servers: placed by editors (a post, a market page, the
dashboard), fetched with the header's fragments in the page's one round trip to the cache, and
an app that is down leaving its widget's last good copy or nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import MarketPageInput
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.fragments import invalidate
from shared.models import BlogPost, DashboardWidget
from tests.events import factories as event_factories
from tests.identity.factories import client_signed_in
from tests.support import BROWSER_ACCEPT, commands_between, csrf_in
from tests.support.live import Platform, private_valkey

BROWSER = {"Accept": BROWSER_ACCEPT}
HEADER = ("blog", "cart", "account", "federation")
TASTINGS = "<p>Taste first:</p><p>[widget:events/upcoming tag=tasting count=3]</p>"


async def tasting(real_db: AsyncSession, title: str = "Cheese tasting") -> None:
    soon = (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None, microsecond=0)
    await event_factories.event(
        real_db, start=soon, end=soon + timedelta(hours=2), title=title, tags=("tasting",)
    )


async def market_page(real_db: AsyncSession, intro: str = TASTINGS) -> None:
    await services().catalog.create_market_page(
        real_db,
        MarketPageInput(title="Breakfast", slug="breakfast", intro=intro, published=True),
        actor_user_id=None,
    )


async def get(client: Client | RoseQuart, path: str) -> str:
    if isinstance(client, RoseQuart):  # an anonymous visitor (no browser: no sign-on check)
        resp = await client.test_client().get(path)
    else:
        resp = await client.get(path, headers=BROWSER)
    body = await resp.get_data(as_text=True)
    assert resp.status_code == 200, path
    return body


async def signed_in(
    live: Platform, db: AsyncSession, app: RoseQuart, name: str, *roles: str
) -> Client:
    """A member made by ``live`` (removed after the test), signed in at ``app``."""
    account = await live.member(name, roles=roles)
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    return await client_signed_in(app, account.id, sign_in.sid)


async def serve(live: Platform, *names: str) -> None:
    for name in names:
        await live.start(name)


async def test_a_market_pages_widget_comes_with_the_header_in_one_round_trip(
    live: Platform, real_db: AsyncSession, tmp_path: Path
) -> None:
    """Counted by the server itself: a Valkey of this test's own, INFO commandstats before and
    after the page."""
    await tasting(real_db)
    await market_page(real_db)
    await real_db.commit()
    await serve(live, "events", *HEADER)
    with private_valkey(tmp_path) as (_server, url):
        app = await live.consumer("market", live.settings(redis_url=url))
        counter = aioredis.Redis.from_url(url)
        try:
            first = await get(app, "/pages/breakfast")
            before = await counter.info("commandstats")
            second = await get(app, "/pages/breakfast")
            after = await counter.info("commandstats")
        finally:
            await counter.aclose()
    assert commands_between(before, after) == {"mget": 1}
    assert 'class="widget widget--events-upcoming"' in second
    assert "Cheese tasting" in second
    assert "[widget:" not in second
    assert second == first


async def test_a_widget_whose_app_is_down_shows_its_last_good_copy_or_nothing(
    live: Platform, real_db: AsyncSession, redis: aioredis.Redis
) -> None:
    await tasting(real_db)
    await market_page(real_db)
    await real_db.commit()
    await serve(live, "events", *HEADER)
    app = await live.consumer("market", live.settings(ROSE_FRAGMENTS__RETRY_AFTER_S="0"))
    assert "Cheese tasting" in await get(app, "/pages/breakfast")
    await live.stop("events")
    # The cached copy is outdated now (as after a change, or its TTL) and events cannot answer.
    await invalidate(redis, "events/upcoming", keep_s=3600)
    html = await get(app, "/pages/breakfast")
    assert "Cheese tasting" in html, "the last good copy"
    # A widget never fetched before, its app down: the page shows without it.
    page = await services().catalog.market_page(real_db, "breakfast")
    await services().catalog.update_market_page(
        real_db,
        page.id,
        MarketPageInput(
            title="Breakfast",
            slug="breakfast",
            intro="<p>Taste first:</p><p>[widget:events/calendar-month]</p>",
            published=True,
        ),
        actor_user_id=None,
    )
    await real_db.commit()
    html = await get(app, "/pages/breakfast")
    assert "Taste first:" in html
    assert "widget--events-calendar-month" not in html
    assert "[widget:" not in html


async def count_posts(real_db: AsyncSession) -> int:
    return int(await real_db.scalar(select(func.count()).select_from(BlogPost)) or 0)


async def test_an_editor_places_a_widget_in_a_post_and_a_bad_one_is_refused(
    live: Platform, real_db: AsyncSession
) -> None:
    await tasting(real_db, "Coffee tasting")
    await serve(live, "events", *HEADER)
    blog = await live.consumer("blog")
    editor = await signed_in(live, real_db, blog, "eddie", "editor")
    # The embed button finds the widgets too, each with its placeholder.
    found = (await (await editor.get("/editor/embeds?q=upcoming")).get_json())["results"]
    assert {"kind": "widget", "label": "Upcoming events", "title": "everything", "detail": "widget",
            "marker": "[widget:events/upcoming]"} in found  # fmt: skip
    token = csrf_in(await get(editor, "/editor/posts/new"))
    form = {"csrf_token": token, "kind": "post", "visibility": "public", "title": "What's on"}
    before = await count_posts(real_db)
    for bad in ("[widget:events/upcoming count=99]", "[widget:events/nothing]"):
        resp = await editor.post(
            "/editor/posts", form={**form, "html": f"<p>{bad}</p>"}, headers=BROWSER
        )
        assert resp.status_code == 400, bad
        assert "widget" in (await resp.get_data(as_text=True)).lower()
        assert await count_posts(real_db) == before
    placed = "<p>Come along:</p><p>[widget:events/upcoming tag=tasting count=2]</p>"
    resp = await editor.post("/editor/posts", form={**form, "html": placed}, headers=BROWSER)
    assert resp.status_code == 302
    post_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    stored = await services().blog.get_post(real_db, post_id)
    assert stored.html == placed, "the sanitizer keeps the placeholder"
    preview = await get(editor, f"/editor/posts/{post_id}/preview")
    assert 'class="widget widget--events-upcoming"' in preview
    assert "Coffee tasting" in preview
    assert "[widget:" not in preview


async def test_staff_choose_the_dashboard_widgets_and_members_see_them(
    live: Platform, real_db: AsyncSession
) -> None:
    await tasting(real_db, "Cider tasting")
    await serve(live, "events", *HEADER)
    account = await live.consumer("account")
    editor = await signed_in(live, real_db, account, "eddie", "editor")
    token = csrf_in(await get(editor, "/editor/dashboard/"))
    bad = "[widget:events/upcoming count=2]\n[widget:events/upcoming count=0]"
    resp = await editor.post(
        "/editor/dashboard/", form={"csrf_token": token, "widgets": bad}, headers=BROWSER
    )
    assert resp.status_code == 400
    assert await real_db.scalar(select(func.count()).select_from(DashboardWidget)) == 0
    good = "[widget:events/upcoming tag=tasting count=2]\n\n[widget:events/calendar-month]"
    resp = await editor.post(
        "/editor/dashboard/", form={"csrf_token": token, "widgets": good}, headers=BROWSER
    )
    assert resp.status_code == 302
    assert await services().blog.dashboard_widgets(real_db) == (
        "[widget:events/upcoming tag=tasting count=2]",
        "[widget:events/calendar-month]",
    )
    member = await signed_in(live, real_db, account, "molly")
    home = await get(member, "/")
    assert "Cider tasting" in home
    assert "widget--events-calendar-month" in home
    # A member cannot choose them (tests/infrastructure/test_auth.py checks every /editor route).
    assert (await member.get("/editor/dashboard/", headers=BROWSER)).status_code == 403
