"""Ghost's navigation adopted as the site navigation: URL mapping (hostile ones included),
the editors' own links left alone, Ghost's order, the limit, the service's refusals, and the
cached ``blog/nav`` outdated so another app's next page shows the change."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as Client
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import NavItemDTO, NavItemInput
from shared.contracts.errors import InvalidNavItem
from shared.errors import DomainError
from shared.infrastructure.context import services
from shared.models import BlogPost, GhostState, NavItem
from shared.services.blog.ghost import GhostContentClient
from shared.services.blog.ghost_sync import GhostSync, nav_invalidator
from shared.services.blog.navigation import MAX_NAV_ITEMS
from tests.blog.factories import WEBHOOK_SECRET, nav_fragment, navigation_page
from tests.identity.factories import signed_in
from tests.standins.ghost import GhostStandIn
from tests.support.composition import nav_labels, slot
from tests.support.composition import page as app_page
from tests.support.live import Platform
from tests.support.settings import AppMaker

DEFAULT = ["Home", "Market", "Events", "Community"]


async def _sync(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings, **kw: Any
) -> GhostSync:
    # A loaded machine must not make these runs time out: they are about the navigation.
    async with GhostContentClient.from_settings(settings, timeout=5) as client:
        sync = GhostSync(session_factory, client, settings.ghost, **kw)
        await sync.run()
    return sync


def _flat(items: tuple[NavItemDTO, ...]) -> list[tuple[str, str | None, str, bool]]:
    return [(i.label, i.app, i.path, i.from_ghost) for i in items]


async def test_ghost_links_map_to_the_blogs_routes_and_hostile_ones_are_skipped(
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ghost.add_post("About", kind="pages", slug="about")
    ghost.add_post("Bread day", slug="bread-day")
    ghost.settings["navigation"] = [
        {"label": "Home", "url": "/"},
        {"label": "About", "url": "/about/"},
        # Absolute on Ghost's own address, and on the configured ghost.url.
        {"label": "Bread", "url": "https://ghost.rose-ash.test/bread-day/"},
        {"label": "News", "url": f"{ghost.url}/tag/news/"},
        {"label": "Rosa", "url": "/author/rosa/"},
        {"label": "  Guide  ", "url": "https://docs.example.org/guide?x=1#top"},
        {"label": "Script", "url": "javascript:alert(1)"},
        {"label": "Script2", "url": " JaVaScRiPt:alert(1)"},
        {"label": "Data", "url": "data:text/html,<script>alert(1)</script>"},
        {"label": "Plain", "url": "http://elsewhere.example/"},
        {"label": "Proto", "url": "//evil.example/x"},
        {"label": "Portal", "url": "#/portal/signup"},
        {"label": "Mail", "url": "mailto:hi@example.org"},
        {"label": "   ", "url": "/"},
        {"label": "x" * 61, "url": "/"},
        {"label": "Huge", "url": "https://long.example/" + "a" * 600},
        {"label": "Missing", "url": "/no-such-post/"},
        {"label": "Deep", "url": "/a/b/c/"},
        {"label": "Query", "url": "/about/?ref=nav"},
        {"label": "Odd slug", "url": "/Bread%20Day/"},
        {"label": "Ghost admin", "url": "https://ghost.rose-ash.test/ghost/#/site"},
        {"label": "Evil <b>", "url": "https://evil.example/\njavascript:x"},
    ]
    with caplog.at_level(logging.WARNING, logger="shared.services.blog.ghost_sync"):
        await _sync(session_factory, ghost_settings)

    items = await services().blog.navigation(db)
    assert _flat(items) == [
        ("Home", "blog", "/", True),
        ("About", "blog", "/pages/about", True),
        ("Bread", "blog", "/posts/bread-day", True),
        ("News", "blog", "/tag/news", True),
        ("Rosa", "blog", "/author/rosa", True),
        ("Guide", None, "https://docs.example.org/guide?x=1#top", True),
    ] + [(i.label, i.app, i.path, False) for i in items[6:]]
    assert [i.label for i in items[6:]] == DEFAULT
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    for label in (
        "Script",
        "Script2",
        "Data",
        "Plain",
        "Proto",
        "Portal",
        "Mail",
        "Huge",
        "Missing",
        "Deep",
        "Query",
        "Odd slug",
        "Ghost admin",
        "Evil <b>",
    ):
        assert any(repr(label) in line for line in skipped), label
    assert any("label_required" in line for line in skipped)
    assert any("too_long" in line for line in skipped)
    # Nothing hostile is stored or shown.
    paths = list(await db.scalars(select(NavItem.path)))
    assert not any(
        p.lower().lstrip().startswith(("javascript", "data", "http:", "//")) for p in paths
    )
    assert all(p.startswith(("/", "https://")) for p in paths)


async def test_editors_links_stay_and_ghosts_follow_ghost_in_order(
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
) -> None:
    blog = services().blog
    own = await blog.add_nav_item(db, NavItemInput("Zines", "blog", "/tag/zines"))
    await blog.add_nav_item(db, NavItemInput("Back issues", "blog", "/tag/old", own.id))
    await db.commit()
    before = [
        (i.id, i.label, i.path, [c.label for c in i.children]) for i in await blog.navigation(db)
    ]

    calls: list[int] = []

    async def changed() -> None:
        calls.append(1)

    await _sync(session_factory, ghost_settings, on_navigation_changed=changed)
    items = await blog.navigation(db)
    # Ghost's Home; its About (no such page synced) is skipped until there is one.
    assert [i.label for i in items] == ["Home", *DEFAULT, "Zines"]
    assert [(i.id, i.label, i.path, [c.label for c in i.children]) for i in items[1:]] == before
    assert calls == [1]
    # Nothing changed in Ghost: nothing is rewritten, and no invalidation.
    ghost_id = items[0].id
    await _sync(session_factory, ghost_settings, on_navigation_changed=changed)
    db.expire_all()
    assert (await blog.navigation(db))[0].id == ghost_id
    assert calls == [1]

    ghost.settings["navigation"] = [
        {"label": "Shop", "url": "https://shop.example/"},
        {"label": "Home", "url": "/"},
        {"label": "Tags", "url": "/tag/bread/"},
    ]
    await _sync(session_factory, ghost_settings, on_navigation_changed=changed)
    db.expire_all()
    items = await blog.navigation(db)
    assert [i.label for i in items] == ["Shop", "Home", "Tags", *DEFAULT, "Zines"]
    assert [(i.id, i.label, i.path, [c.label for c in i.children]) for i in items[3:]] == before
    assert calls == [1, 1]
    # Editors keep moving their own links among themselves.
    await blog.move_nav_item(db, own.id, -1)
    assert [i.label for i in await blog.navigation(db)][:5] == [
        "Shop",
        "Home",
        "Tags",
        *DEFAULT[:2],
    ]
    assert [i.label for i in await blog.navigation(db)][-2:] == ["Zines", "Community"]

    ghost.settings["navigation"] = []
    await _sync(session_factory, ghost_settings, on_navigation_changed=changed)
    db.expire_all()
    assert not any(i.from_ghost for i in await blog.navigation(db))


async def test_about_resolves_once_the_page_is_synced_and_a_new_post_webhook_adds_it(
    make_app: AppMaker,
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    redis: aioredis.Redis,
) -> None:
    await _sync(session_factory, ghost_settings)
    assert [i.label for i in await services().blog.navigation(db)][:2] == ["Home", "Home"]
    # The About page is published in Ghost later; its webhook brings it, and the link.
    about = ghost.add_post("About us", kind="pages", slug="about")
    app = await make_app("blog", app_settings=ghost_settings)
    body, headers = ghost.webhook(
        "page.published", WEBHOOK_SECRET, current=ghost.rendered(about["id"], "pages")
    )
    resp = await app.test_client().post("/webhooks/ghost", data=body, headers=headers)
    assert resp.status_code == 200
    db.expire_all()
    items = await services().blog.navigation(db)
    assert (items[1].label, items[1].path, items[1].from_ghost) == ("About", "/pages/about", True)
    assert await redis.get("rose:fragver:blog/nav") == b"1"


async def test_the_limit_holds_ghost_links_fill_only_the_room_left(
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ghost.settings["navigation"] = [
        {"label": f"Link {n}", "url": f"https://l{n}.example/"} for n in range(30)
    ]
    with caplog.at_level(logging.WARNING, logger="shared.services.blog.ghost_sync"):
        await _sync(session_factory, ghost_settings)
    items = await services().blog.navigation(db)
    room = MAX_NAV_ITEMS - len(DEFAULT)
    assert [i.label for i in items] == [f"Link {n}" for n in range(room)] + DEFAULT
    assert int(await db.scalar(select(func.count()).select_from(NavItem)) or 0) == MAX_NAV_ITEMS
    assert sum("too_many_items" in r.getMessage() for r in caplog.records) == 30 - room
    with pytest.raises(InvalidNavItem) as full:
        await services().blog.add_nav_item(db, NavItemInput("One more", "blog", "/"))
    assert full.value.code == "too_many_items"


async def test_the_service_refuses_to_change_ghost_links_or_nest_under_them(
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
) -> None:
    await _sync(session_factory, ghost_settings)
    blog = services().blog
    items = await blog.navigation(db)
    home = items[0]
    own = next(i for i in items if not i.from_ghost)
    assert home.from_ghost
    for attempt in (
        blog.update_nav_item(db, home.id, NavItemInput("Mine now", "blog", "/")),
        blog.move_nav_item(db, home.id, 1),
        blog.delete_nav_item(db, home.id),
    ):
        with pytest.raises(DomainError) as refused:
            await attempt
        assert (refused.value.code, refused.value.status) == ("nav_item_from_ghost", 409)
    for attempt in (
        blog.add_nav_item(db, NavItemInput("Under", "blog", "/x", home.id)),
        blog.update_nav_item(db, own.id, NavItemInput(own.label, own.app, own.path, home.id)),
    ):
        with pytest.raises(InvalidNavItem) as nested:
            await attempt
        assert (nested.value.code, nested.value.field) == ("parent_from_ghost", "parent")
    await db.rollback()
    assert await blog.navigation(db) == items


async def test_editors_see_ghost_links_marked_without_controls_and_cannot_change_them(
    make_app: AppMaker,
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    redis: aioredis.Redis,
) -> None:
    await _sync(session_factory, ghost_settings)
    app = await make_app("blog", app_settings=ghost_settings)
    client = await signed_in(app, db, "eddie", "editor")
    html, token = await navigation_page(client)
    home = (await services().blog.navigation(db))[0]
    row = re.search(rf'<li data-nav-id="{home.id}" class="from-ghost">(.*?)</li>', html, re.S)
    assert row is not None
    assert "from Ghost" in row.group(1)
    assert "<form" not in row.group(1)
    # No edit, move or delete anywhere.
    assert not re.search(rf'/editor/navigation/{home.id}["/]', html)
    assert f'<option value="{home.id}"' not in html  # and not offered as a parent
    for path, form in (
        (f"/editor/navigation/{home.id}", {"label": "X", "app": "blog", "path": "/"}),
        (f"/editor/navigation/{home.id}/move", {"direction": "down"}),
        (f"/editor/navigation/{home.id}/delete", {}),
    ):
        resp = await client.post(path, form={"csrf_token": token, **form})
        assert resp.status_code == 409, path
        assert 'data-error-code="nav_item_from_ghost"' in await resp.get_data(as_text=True)
    resp = await client.post(
        "/editor/navigation",
        form={
            "csrf_token": token,
            "label": "U",
            "app": "blog",
            "path": "/",
            "parent": str(home.id),
        },
    )
    assert resp.status_code == 400
    assert 'data-error-code="parent_from_ghost"' in await resp.get_data(as_text=True)
    assert (await services().blog.navigation(db))[0] == home
    assert await redis.get("rose:fragver:blog/nav") is None
    # The fragment every header shows has Ghost's links first.
    assert re.findall(r"<a [^>]*>([^<]+)</a>", await nav_fragment(app))[:3] == [
        "Home",
        "Home",
        "Market",
    ]


# --- another app's next page -------------------------------------------------------------------


@pytest.fixture
async def committed_cleanup(engine: AsyncEngine) -> Any:
    """Live apps commit: remove what Ghost brought when the test ends."""
    yield
    async with engine.begin() as conn:
        await conn.execute(delete(NavItem).where(NavItem.from_ghost.is_(True)))
        await conn.execute(delete(GhostState))
        await conn.execute(delete(BlogPost).where(BlogPost.ghost_id.is_not(None)))


async def test_a_site_changed_webhook_and_a_sync_run_show_on_another_apps_next_page(
    live: Platform,
    ghost: GhostStandIn,
    engine: AsyncEngine,
    redis: aioredis.Redis,
    committed_cleanup: None,
) -> None:
    ghost_env = {
        "ROSE_GHOST__URL": ghost.url,
        "ROSE_GHOST__TIMEOUT_S": "2",
        "ROSE_GHOST__WEBHOOK_TIMEOUT_S": "2",
        "ROSE_GHOST_CONTENT_KEY": ghost.content_key,
        "ROSE_GHOST_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    settings = live.settings(**ghost_env)
    blog = await live.start("blog", settings)
    await live.start("cart")
    await live.start("account")
    market = await live.consumer("market")
    label = "Shop " + secrets.token_hex(3)
    assert label not in nav_labels(await app_page(market))  # cached now

    # A site.changed webhook (Ghost's navigation edited): the blog re-reads the settings.
    ghost.settings["navigation"] = [{"label": label, "url": "https://shop.example/"}]
    status = await ghost.send_webhook(blog.url + "/webhooks/ghost", "site.changed", WEBHOOK_SECRET)
    assert status == 200
    header = slot(await app_page(market), "nav")
    assert f'<a href="https://shop.example/">{label}</a>' in header
    assert nav_labels(await app_page(market))[0] == label

    # A sync run outside any app (the CLI's and the worker's way) outdates it as well.
    other = "Fair " + secrets.token_hex(3)
    ghost.settings["navigation"] = [{"label": other, "url": "https://fair.example/"}]
    async with GhostContentClient.from_settings(settings) as client:
        await GhostSync(
            async_sessionmaker(engine),
            client,
            settings.ghost,
            on_navigation_changed=nav_invalidator(settings),
        ).run()
    labels = nav_labels(await app_page(market))
    assert labels[0] == other
    assert label not in labels


async def test_an_editors_refused_change_to_a_ghost_link_keeps_the_client_happy(
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    make_app: AppMaker,
) -> None:
    """The confirmation page of a Ghost link's delete is refused too (no dead-end form)."""
    await _sync(session_factory, ghost_settings)
    app = await make_app("blog", app_settings=ghost_settings)
    client: Client = await signed_in(app, db, "eddie", "editor")
    home = (await services().blog.navigation(db))[0]
    resp = await client.get(f"/editor/navigation/{home.id}/delete")
    assert resp.status_code == 409
