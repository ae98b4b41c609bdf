"""Editing the site navigation: the service's rules on real PostgreSQL, the editor's routes
(roles, CSRF, refused input that writes nothing), and the fragment every app shows."""

from __future__ import annotations

import re

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import NavItemInput
from shared.contracts.errors import InvalidNavItem
from shared.errors import NotFound
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import NavItem
from shared.services.blog.navigation import MAX_NAV_ITEMS
from tests.blog.factories import nav_fragment, navigation_page
from tests.identity.factories import signed_in
from tests.support import BROWSER_ACCEPT
from tests.support.settings import AppMaker

DEFAULT = ["Home", "Market", "Events", "Community"]


def labels(items: tuple) -> list:  # type: ignore[type-arg]
    return [(i.label, [c.label for c in i.children]) if i.children else i.label for i in items]


async def nav_rows(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(NavItem)) or 0)


# --- the service -------------------------------------------------------------------------------


async def test_add_appends_and_nests_one_level(db: AsyncSession) -> None:
    blog = services().blog
    zines = await blog.add_nav_item(db, NavItemInput("  Zines  ", "blog", "/tag/zines"))
    assert (zines.label, zines.app, zines.path, zines.parent_id) == (
        "Zines",
        "blog",
        "/tag/zines",
        None,
    )
    coop = await blog.add_nav_item(db, NavItemInput("Co-op", None, "https://coop.example/x?y=1"))
    await blog.add_nav_item(db, NavItemInput("Back issues", "blog", "/tag/old", zines.id))
    await blog.add_nav_item(db, NavItemInput("Printing", "events", "/", zines.id))
    items = await blog.navigation(db)
    assert labels(items) == [*DEFAULT, ("Zines", ["Back issues", "Printing"]), "Co-op"]
    assert items[-1].id == coop.id
    assert items[-1].app is None


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        (NavItemInput("   ", "blog", "/"), "label_required", "label"),
        (NavItemInput("x" * 61, "blog", "/"), "too_long", "label"),
        (NavItemInput("Shop", "shop", "/"), "unknown_app", "app"),
        (NavItemInput("Evil", "blog", "//evil.example/"), "invalid_path", "path"),
        (NavItemInput("Rel", "blog", "about"), "invalid_path", "path"),
        (NavItemInput("Sp", "blog", "/a b"), "invalid_path", "path"),
        (NavItemInput("Js", None, "javascript:alert(1)"), "invalid_url", "path"),
        (NavItemInput("Http", None, "http://plain.example/"), "invalid_url", "path"),
        (NavItemInput("Long", "blog", "/" + "a" * 500), "too_long", "path"),
        (NavItemInput("Orphan", "blog", "/", 10**12), "invalid_parent", "parent"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    db: AsyncSession, data: NavItemInput, code: str, field: str
) -> None:
    before = await nav_rows(db)
    with pytest.raises(InvalidNavItem) as caught:
        await services().blog.add_nav_item(db, data)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert await nav_rows(db) == before


async def test_nesting_stays_one_level_deep(db: AsyncSession) -> None:
    blog = services().blog
    top = await blog.add_nav_item(db, NavItemInput("Top", "blog", "/"))
    child = await blog.add_nav_item(db, NavItemInput("Child", "blog", "/c", top.id))
    with pytest.raises(InvalidNavItem) as deep:
        await blog.add_nav_item(db, NavItemInput("Grandchild", "blog", "/g", child.id))
    assert deep.value.code == "too_deep"
    other = (await blog.navigation(db))[0]
    with pytest.raises(InvalidNavItem) as parent_of_children:
        await blog.update_nav_item(db, top.id, NavItemInput("Top", "blog", "/", other.id))
    assert parent_of_children.value.code == "has_children"
    with pytest.raises(InvalidNavItem) as own:
        await blog.update_nav_item(db, top.id, NavItemInput("Top", "blog", "/", top.id))
    assert own.value.code == "invalid_parent"
    # A child may move to the top level (at its end), and an item under another.
    await blog.update_nav_item(db, child.id, NavItemInput("Child", "blog", "/c"))
    await blog.update_nav_item(db, other.id, NavItemInput("Home", "blog", "/", top.id))
    assert labels(await blog.navigation(db)) == [*DEFAULT[1:], ("Top", ["Home"]), "Child"]


async def test_move_reorders_among_siblings_and_clamps(db: AsyncSession) -> None:
    blog = services().blog
    items = await blog.navigation(db)
    home, market = items[0], items[1]
    await blog.move_nav_item(db, market.id, -1)
    assert labels(await blog.navigation(db)) == ["Market", "Home", "Events", "Community"]
    await blog.move_nav_item(db, market.id, -1)  # already first: stays
    await blog.move_nav_item(db, home.id, 1)
    await blog.move_nav_item(db, home.id, 1)
    await blog.move_nav_item(db, home.id, 1)  # already last: stays
    assert labels(await blog.navigation(db)) == ["Market", "Events", "Community", "Home"]
    with pytest.raises(NotFound):
        await blog.move_nav_item(db, 10**12, 1)


async def test_delete_takes_the_sub_links_and_the_limit_holds(db: AsyncSession) -> None:
    blog = services().blog
    top = await blog.add_nav_item(db, NavItemInput("Top", "blog", "/"))
    await blog.add_nav_item(db, NavItemInput("Child", "blog", "/c", top.id))
    await blog.delete_nav_item(db, top.id)
    assert labels(await blog.navigation(db)) == DEFAULT
    with pytest.raises(NotFound):
        await blog.delete_nav_item(db, top.id)
    for n in range(MAX_NAV_ITEMS - len(DEFAULT)):
        await blog.add_nav_item(db, NavItemInput(f"L{n}", "blog", f"/{n}"))
    with pytest.raises(InvalidNavItem) as full:
        await blog.add_nav_item(db, NavItemInput("One more", "blog", "/"))
    assert full.value.code == "too_many_items"


# --- the editor's routes -----------------------------------------------------------------------


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("blog")


def header_labels(html: str) -> list[str]:
    nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S)
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav.group(0)) if nav else []


async def test_an_editor_adds_edits_moves_and_deletes_links(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    client = await signed_in(app, db, "eddie", "editor")
    html, token = await navigation_page(client)
    assert "<h1>Site navigation</h1>" in html
    resp = await client.post(
        "/editor/navigation",
        form={"csrf_token": token, "label": "Zines", "app": "blog", "path": "/tag/zines"},
    )
    assert resp.status_code == 302
    assert await redis.get("rose:fragver:blog/nav") == b"1"
    zines = (await services().blog.navigation(db))[-1]
    assert (zines.label, zines.path) == ("Zines", "/tag/zines")
    home = (await services().blog.navigation(db))[0]
    resp = await client.post(
        f"/editor/navigation/{home.id}",
        form={"csrf_token": token, "label": "Front", "app": "blog", "path": "/", "parent": ""},
    )
    assert resp.status_code == 302
    resp = await client.post(
        f"/editor/navigation/{zines.id}",
        form={
            "csrf_token": token,
            "label": "Zines",
            "app": "",
            "path": "https://zines.example/",
            "parent": str(home.id),
        },
    )
    assert resp.status_code == 302
    resp = await client.post(
        f"/editor/navigation/{home.id}/move", form={"csrf_token": token, "direction": "down"}
    )
    assert resp.status_code == 302
    items = await services().blog.navigation(db)
    assert labels(items) == ["Market", ("Front", ["Zines"]), "Events", "Community"]
    # The fragment shows the nested link as a nested list.
    html = await nav_fragment(app)
    assert header_labels(html) == ["Market", "Front", "Zines", "Events", "Community"]
    assert re.search(r">Front</a>\s*<ul class=\"sub-nav\">\s*<li><a href=\"https://zines", html)
    confirm, _ = await navigation_page(client, f"/editor/navigation/{home.id}/delete")
    assert "Delete “Front”?" in confirm
    assert "Zines" in confirm
    resp = await client.post(f"/editor/navigation/{home.id}/delete", form={"csrf_token": token})
    assert resp.status_code == 302
    assert labels(await services().blog.navigation(db)) == ["Market", "Events", "Community"]
    assert await redis.get("rose:fragver:blog/nav") == b"5"


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"label": "", "app": "blog", "path": "/"}, "label_required"),
        ({"label": "X", "app": "", "path": "javascript:alert(1)"}, "invalid_url"),
        ({"label": "X", "app": "blog", "path": "/", "parent": "abc"}, "invalid_parent"),
    ],
)
async def test_a_refused_change_shows_the_error_and_writes_nothing(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis, form: dict[str, str], code: str
) -> None:
    client = await signed_in(app, db, "eddie", "editor")
    _html, token = await navigation_page(client)
    before = await services().blog.navigation(db)
    resp = await client.post("/editor/navigation", form={"csrf_token": token, **form})
    assert resp.status_code == 400
    html = await resp.get_data(as_text=True)
    assert f'data-error-code="{code}"' in html
    assert f'value="{form["label"]}"' in html  # the form keeps what was typed
    assert await services().blog.navigation(db) == before
    assert await redis.get("rose:fragver:blog/nav") is None


async def test_members_and_strangers_are_refused_and_csrf_is_required(
    app: RoseQuart, db: AsyncSession
) -> None:
    stranger = app.test_client()
    resp = await stranger.get("/editor/navigation", headers={"Accept": BROWSER_ACCEPT})
    assert resp.status_code == 302  # off to sign in
    assert (await stranger.post("/editor/navigation")).status_code in (400, 401)
    member = await signed_in(app, db, "molly")
    assert (await member.get("/editor/navigation")).status_code == 403
    async with member.session_transaction() as cookie:
        cookie["_csrf"] = "member-token-" + "m" * 20  # a valid token of their own
    home = (await services().blog.navigation(db))[0]
    for path in ("/editor/navigation", f"/editor/navigation/{home.id}/delete"):
        form = {"csrf_token": "member-token-" + "m" * 20, "label": "Z", "app": "blog", "path": "/"}
        assert (await member.post(path, form=form)).status_code == 403, path
    admin = await signed_in(app, db, "ada", "admin")
    await navigation_page(admin)  # admins hold every role
    resp = await admin.post(
        "/editor/navigation", form={"label": "Nope", "app": "blog", "path": "/"}
    )
    assert resp.status_code == 400  # no CSRF token
    assert labels(await services().blog.navigation(db)) == DEFAULT
