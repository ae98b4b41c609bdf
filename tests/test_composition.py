"""Pages composed from other apps' fragments, with real servers: providers under Hypercorn on
loopback ports, real Redis (and a Valkey of the test's own where commands are counted or the
server is stopped), a provider that hangs, one that is stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from quart import request
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from shared.config import APP_NAMES
from shared.contracts import NavItemDTO
from shared.infrastructure.context import db_session, services
from shared.infrastructure.csrf import csrf_exempt
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.fragments import invalidate, invalidate_after_commit
from shared.infrastructure.visitor import Visitor, set_cart_key, set_current_user
from shared.models import CartItem, NavItem, User
from tests.identity.factories import client_signed_in
from tests.support import BROWSER_ACCEPT, commands_between, csrf_in, refusing_port
from tests.support.composition import nav_labels, page, slot
from tests.support.live import Platform, hanging_server, private_valkey

BROWSER = {"Accept": BROWSER_ACCEPT}

PROVIDERS = ("blog", "cart", "account")
# The fetch timeout where a hung server is met (the test default is ample, tests/support).
TIMEOUT = "2"
FRAGMENTS = ("/internal/fragments/nav", "/internal/fragments/mini", "/internal/fragments/menu")
# What these tests assert is structure (what was fetched, from where, how often), never
# seconds. A page that hung would hang the test, so the pages that meet a hung server are
# awaited under this guard; it is far beyond any timeout involved and measures nothing.
HANG_GUARD_S = 60


def act_from_headers(app: RoseQuart) -> None:
    """The actor from headers, after sign-on's own hook (which finds no session here): these
    tests are about caching and composition; tests/account/test_menu.py signs in for real.
    The cart cookie arrives with its own issue."""

    @app.before_request
    async def _act() -> None:
        if user := request.headers.get("X-Test-User"):
            set_current_user(int(user))
        if key := request.headers.get("X-Test-Cart-Key"):
            set_cart_key(key)


def count_internal(counter: Counter[str], delay_s: float = 0.0) -> Callable[[RoseQuart], None]:
    """Count the internal requests an app serves (optionally answering them slowly)."""

    def setup(app: RoseQuart) -> None:
        @app.before_request
        async def _count() -> None:
            if request.path.startswith("/internal/"):
                counter[request.path] += 1
                if delay_s:
                    await asyncio.sleep(delay_s)

    return setup


async def start_providers(live: Platform, **setups: Callable[[RoseQuart], None]) -> None:
    for name in PROVIDERS:
        if name in setups:
            await live.start(name, setup=setups[name])
        else:
            await live.start(name)


def cart_count(html: str) -> int | None:
    match = re.search(r'class="cart-count" data-count="(\d+)"', slot(html, "cart"))
    return int(match.group(1)) if match else None


@pytest.fixture
async def members(engine: AsyncEngine) -> AsyncIterator[dict[str, int]]:
    """Two members with carts of 7 and 2 items, committed (the served apps see them)."""
    suffix = secrets.token_hex(3)
    async with engine.begin() as conn:
        ids: dict[str, int] = {}
        for name, display in (("ann", "Ann Acorn"), ("bob", "Bob Birch")):
            ids[name] = await conn.scalar(  # type: ignore[assignment]
                insert(User)
                .values(
                    email=f"{name}{suffix}@example.test",
                    username=f"{name}_{suffix}",
                    display_name=display,
                )
                .returning(User.id)
            )
        await conn.execute(
            insert(CartItem),
            [
                {"user_id": ids["ann"], "kind": "product", "item_id": 900001, "quantity": 3},
                {"user_id": ids["ann"], "kind": "product", "item_id": 900002, "quantity": 4},
                {"user_id": ids["bob"], "kind": "product", "item_id": 900003, "quantity": 2},
            ],
        )
    yield ids
    async with engine.begin() as conn:
        await conn.execute(delete(User).where(User.id.in_(ids.values())))  # carts cascade


# --- the header, everywhere --------------------------------------------------------------


async def test_every_app_shows_the_same_header_from_three_apps_and_redis_serves_it_again(
    live: Platform, redis: aioredis.Redis
) -> None:
    """The platform in one process: all six apps served for real, each page fetching its
    header from blog, cart and account over signed internal requests."""
    counter: Counter[str] = Counter()
    for name in APP_NAMES:
        await live.start(name, setup=count_internal(counter))
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        for name in APP_NAMES:
            html = (await client.get(live.url(name) + "/")).text
            assert nav_labels(html) == ["Home", "Market", "Events", "Community"], name
            assert cart_count(html) == 0, name
            assert "Sign in" in slot(html, "account"), name
            current = re.findall(r'aria-current="page">([^<]+)<', html)
            expected = {
                "blog": ["Home"],
                "market": ["Market"],
                "events": ["Events"],
                "federation": ["Community"],
            }
            assert current == expected.get(name, []), name
        fetched = counter.copy()
        # One copy per `current`; the blog renders its own in-process, without asking itself
        # over HTTP (and stores it like any other copy: the second loads below read it).
        assert fetched["/internal/fragments/nav"] == len(APP_NAMES) - 1
        assert fetched["/internal/fragments/mini"] == 1  # shared by anonymous visitors
        assert fetched["/internal/fragments/menu"] == 1
        for name in APP_NAMES:  # second loads: all from Redis
            assert cart_count((await client.get(live.url(name) + "/")).text) == 0
        assert counter == fetched

        # Stopping one app leaves the others' pages working.
        await live.stop("cart")
        for name in APP_NAMES:
            if name != "cart":
                resp = await client.get(live.url(name) + "/")
                assert resp.status_code == 200
                assert nav_labels(resp.text), name


async def test_an_app_renders_its_own_shared_fragments_without_asking_itself(
    live: Platform, redis: aioredis.Redis, members: dict[str, int]
) -> None:
    """The blog's pages show the blog's nav: rendered in the blog's process (the blog is not
    even served here), for nobody in particular whoever is asking, and kept like any copy."""
    for name in ("cart", "account", "events"):
        await live.start(name)
    blog = await live.consumer("blog", setup=act_from_headers)
    html = await page(blog, user=members["ann"])
    assert nav_labels(html) == ["Home", "Market", "Events", "Community"]
    assert "Ann Acorn" in slot(html, "account")
    stored = [k.decode() for k in await redis.keys("rose:frag:blog/nav:*")]
    assert len(stored) == 1
    assert stored[0].endswith(":shared")
    copy = json.loads(await redis.get(stored[0]))
    assert copy["u"] is False
    assert "Ann" not in copy["h"]
    assert 'aria-current="page">Home<' in copy["h"]


async def test_a_cached_page_costs_exactly_one_redis_command(
    live: Platform, tmp_path: Path
) -> None:
    """Counted by the server itself: a Valkey of this test's own, INFO commandstats before and
    after the page."""
    await start_providers(live)
    with private_valkey(tmp_path) as (_server, url):
        app = await live.consumer("events", live.settings(redis_url=url))
        counter = aioredis.Redis.from_url(url)
        try:
            first = await page(app)  # fetches and stores
            before = await counter.info("commandstats")
            second = await page(app)
            after = await counter.info("commandstats")
        finally:
            await counter.aclose()
    assert commands_between(before, after) == {"mget": 1}
    assert second == first
    assert nav_labels(second)
    assert cart_count(second) == 0
    assert "Sign in" in second


# --- per-user fragments --------------------------------------------------------------------


async def test_per_user_fragments_never_leak_between_users(
    live: Platform, members: dict[str, int]
) -> None:
    await start_providers(live)
    app = await live.consumer("market", setup=act_from_headers)
    ann, bob = members["ann"], members["bob"]
    key = "anon-cart-" + secrets.token_hex(8)
    for _ in range(2):  # fetched, then from the cache
        for _ in range(2):
            html = await page(app, user=ann)
            assert cart_count(html) == 7
            assert "Ann Acorn" in slot(html, "account")
            assert "Bob Birch" not in html
            html = await page(app, user=bob)
            assert cart_count(html) == 2
            assert "Bob Birch" in slot(html, "account")
            assert "Ann Acorn" not in html
            html = await page(app)
            assert cart_count(html) == 0
            assert "Sign in" in slot(html, "account")
            assert "Ann Acorn" not in html
            assert "Bob Birch" not in html
            html = await page(app, cart_key=key)
            assert cart_count(html) == 0


async def test_an_anonymous_cart_key_has_its_own_count(live: Platform, engine: AsyncEngine) -> None:
    key, other = "anon-cart-" + secrets.token_hex(8), "anon-cart-" + secrets.token_hex(8)
    async with engine.begin() as conn:
        await conn.execute(
            insert(CartItem).values(cart_key=key, kind="product", item_id=900004, quantity=5)
        )
    try:
        await start_providers(live)
        app = await live.consumer("blog", setup=act_from_headers)
        assert cart_count(await page(app, cart_key=key)) == 5
        assert cart_count(await page(app, cart_key=other)) == 0
        assert cart_count(await page(app, cart_key=key)) == 5
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(CartItem).where(CartItem.cart_key == key))


# --- invalidation --------------------------------------------------------------------------


def nav_editing(app: RoseQuart) -> None:
    """A stand-in for the blog's editor: a domain change that invalidates after commit."""

    @app.post("/_test/nav")
    @csrf_exempt("test-only route driven by the test itself")
    async def _add_nav() -> str:
        form = await request.form
        db_session().add(NavItem(label=form["label"], app="events", path="/", position=99))
        invalidate_after_commit(db_session(), "blog/nav")
        await db_session().flush()
        if form.get("fail"):
            raise RuntimeError("the change fails after writing")
        return "saved"


async def test_a_navigation_change_shows_on_the_next_page(
    live: Platform, redis: aioredis.Redis, engine: AsyncEngine
) -> None:
    blog = await live.start("blog", setup=nav_editing)
    await live.start("cart")
    await live.start("account")
    app = await live.consumer("federation")
    label = "Zines " + secrets.token_hex(3)
    try:
        assert label not in nav_labels(await page(app))
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            # A change that rolls back invalidates nothing.
            resp = await client.post(blog.url + "/_test/nav", data={"label": label, "fail": "1"})
            assert resp.status_code == 500
            assert await redis.get("rose:fragver:blog/nav") is None
            assert label not in nav_labels(await page(app))
            # A committed one shows on the very next page, before the cached copy's TTL.
            resp = await client.post(blog.url + "/_test/nav", data={"label": label})
            assert resp.status_code == 200
        assert await redis.get("rose:fragver:blog/nav") == b"1"
        assert nav_labels(await page(app))[-1] == label
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(NavItem).where(NavItem.label == label))


async def test_the_editors_navigation_change_shows_on_every_apps_next_page(
    live: Platform, redis: aioredis.Redis, engine: AsyncEngine
) -> None:
    """The real editor route: a link an editor adds at the blog is on market's and events'
    very next page (already cached before the change), and the header shows it nested."""
    blog = await live.start("blog")
    await live.start("cart")
    await live.start("account")
    market = await live.consumer("market")
    events = await live.consumer("events")
    label = "Zines " + secrets.token_hex(3)
    editor = await live.member("ed_" + secrets.token_hex(3), roles=("editor",))
    async with async_sessionmaker(engine)() as db, db.begin():
        sign_in = await services().identity.start_session(db, editor.id)
    desk = await live.consumer("blog")  # the editor's browser at the blog (same DB and Redis)
    client = await client_signed_in(desk, editor.id, sign_in.sid)
    try:
        for app in (market, events):
            assert label not in nav_labels(await page(app))  # cached now
        html = await (await client.get("/editor/navigation", headers=BROWSER)).get_data(
            as_text=True
        )
        home = next(i for i in await _navigation(engine) if i.label == "Home")
        resp = await client.post(
            "/editor/navigation",
            form={
                "csrf_token": csrf_in(html),
                "label": label,
                "app": "market",
                "path": "/zines",
                "parent": str(home.id),
            },
        )
        assert resp.status_code == 302
        for app in (market, events):
            header = slot(await page(app), "nav")
            assert f'<a href="{live.url("market")}/zines">{label}</a>' in header
            assert re.search(r'<ul class="sub-nav">\s*<li><a [^>]*>' + label, header)
        assert blog.url  # served: the consumers fetched blog/nav from it over HTTP
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(NavItem).where(NavItem.label == label))


async def _navigation(engine: AsyncEngine) -> tuple[NavItemDTO, ...]:
    async with async_sessionmaker(engine)() as db:
        return await services().blog.navigation(db)


async def test_invalidating_one_owner_leaves_the_others_cached(
    live: Platform, redis: aioredis.Redis, engine: AsyncEngine, members: dict[str, int]
) -> None:
    counter: Counter[str] = Counter()
    await start_providers(live, cart=count_internal(counter))
    app = await live.consumer("events", setup=act_from_headers)
    ann, bob = members["ann"], members["bob"]
    assert cart_count(await page(app, user=ann)) == 7
    assert cart_count(await page(app, user=bob)) == 2
    async with engine.begin() as conn:
        await conn.execute(
            insert(CartItem).values(user_id=ann, kind="product", item_id=900005, quantity=1)
        )
    await invalidate(redis, "cart/mini", Visitor(user_id=ann), keep_s=3600)
    assert 0 < await redis.ttl(f"rose:fragver:cart/mini:u{ann}") <= 3600
    assert cart_count(await page(app, user=ann)) == 8
    assert cart_count(await page(app, user=bob)) == 2
    assert counter["/internal/fragments/mini"] == 3  # ann, bob, ann again; bob's stayed cached


# --- one fetch per key ---------------------------------------------------------------------


async def test_concurrent_pages_share_one_fetch_per_fragment_across_processes(
    live: Platform,
) -> None:
    """Twenty pages at once in two app "processes" (two fragment clients): each fragment is
    fetched once — in-process by sharing the fetch, across processes by the Redis lock."""
    counter: Counter[str] = Counter()
    slow = count_internal(counter, delay_s=0.2)
    await start_providers(live, blog=slow, cart=slow, account=slow)
    one = await live.consumer("events")
    two = await live.consumer("events")
    pages = await asyncio.gather(*(page(app) for app in (one, two) for _ in range(10)))
    for html in pages:
        assert nav_labels(html)
        assert cart_count(html) == 0
        assert "Sign in" in html
    assert counter == {
        "/internal/fragments/nav": 1,
        "/internal/fragments/mini": 1,
        "/internal/fragments/menu": 1,
    }


# --- failures never break a page -----------------------------------------------------------


async def test_a_stopped_provider_leaves_its_slot_empty_and_logs_once(
    live: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    await live.start("blog")
    await live.start("account")  # cart is not running: its port refuses connections
    # Retry on every page (no pause after a failure), so each page really meets the outage.
    settings = live.settings(ROSE_FRAGMENTS__RETRY_AFTER_S="0")
    app = await live.consumer("market", settings)
    caplog.set_level(logging.WARNING, "shared.infrastructure.fragments")
    for _ in range(3):
        html = await page(app)
        assert slot(html, "cart") == ""
        assert nav_labels(html)
        assert "Sign in" in slot(html, "account")
    warnings = [r for r in caplog.records if "cart" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


async def test_a_stopped_provider_is_replaced_by_its_last_good_copy(
    live: Platform, redis: aioredis.Redis, members: dict[str, int]
) -> None:
    await start_providers(live)
    app = await live.consumer("events", setup=act_from_headers)
    ann = members["ann"]
    assert cart_count(await page(app, user=ann)) == 7
    await live.stop("cart")
    # The cached copy is outdated now (as after a change, or its TTL) and cart cannot answer.
    await invalidate(redis, "cart/mini", keep_s=3600)
    html = await page(app, user=ann)
    assert cart_count(html) == 7, "the last good copy"
    html = await page(app, user=members["bob"])
    assert slot(html, "cart") == "", "nobody else's copy stands in for Bob's"


async def test_a_hanging_provider_costs_a_page_one_timed_out_fetch(live: Platform) -> None:
    async with hanging_server() as hung:
        await live.start("blog")
        await live.start("account")
        settings = live.settings(
            ROSE_FRAGMENTS__TIMEOUT_S=TIMEOUT,
            ROSE_APPS__CART__INTERNAL_URL=f"http://127.0.0.1:{hung.port}",
        )
        app = await live.consumer("blog", settings)
        async with asyncio.timeout(HANG_GUARD_S):
            html = await page(app)
        # The cart was asked once and never answered: the page ended by the fetch's timeout.
        assert hung.connections == 1
        assert slot(html, "cart") == ""
        assert nav_labels(html)
        assert "Sign in" in html
        # Within retry_after_s the hung app is not asked again.
        async with asyncio.timeout(HANG_GUARD_S):
            html = await page(app)
        assert hung.connections == 1
        assert slot(html, "cart") == ""
        assert nav_labels(html)


@pytest.mark.parametrize("outage", ["stopped", "closed_port", "hanging"])
async def test_pages_render_when_redis_is_down(live: Platform, tmp_path: Path, outage: str) -> None:
    counter: Counter[str] = Counter()
    counted = count_internal(counter)
    await start_providers(live, blog=counted, cart=counted, account=counted)
    async with hanging_server() as hung:
        with private_valkey(tmp_path) as (valkey, url):
            if outage == "closed_port":
                url = f"redis://127.0.0.1:{refusing_port()}/0"
            elif outage == "hanging":
                url = f"redis://127.0.0.1:{hung.port}/0"
            # A hung Redis is given up on after a second (the test default is ample).
            app = await live.consumer(
                "cart", live.settings(redis_url=url, ROSE_REDIS__TIMEOUT_S="1")
            )
            if outage == "stopped":
                html = await page(app)  # cached while Redis was up
                assert nav_labels(html)
                valkey.stop()
            for _ in range(2):
                before = counter.copy()
                async with asyncio.timeout(HANG_GUARD_S):
                    html = await page(app)
                if outage == "hanging":
                    assert hung.connections >= 1, "Redis was asked, and never answered"
                # Fetched directly from the apps, each fragment once.
                assert {path: counter[path] - before[path] for path in FRAGMENTS} == dict.fromkeys(
                    FRAGMENTS, 1
                )
                assert nav_labels(html) == ["Home", "Market", "Events", "Community"]
                assert cart_count(html) == 0
                assert "Sign in" in slot(html, "account")


async def test_an_erroring_fragment_is_empty_and_the_page_still_renders(live: Platform) -> None:
    def failing_menu(app: RoseQuart) -> None:
        @app.before_request
        async def _fail() -> None:
            if request.path == "/internal/fragments/menu":
                raise RuntimeError("account's menu is broken")

    await live.start("blog")
    await live.start("cart")
    await live.start("account", setup=failing_menu)
    app = await live.consumer("federation")
    html = await page(app)
    assert slot(html, "account") == ""
    assert nav_labels(html)
    assert cart_count(html) == 0


async def test_error_pages_keep_the_sites_header(live: Platform) -> None:
    """A missing page, a refused request: the menu, the cart and sign-in are still there."""
    await start_providers(live)
    await live.start("market")
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        checked = {**BROWSER, "Cookie": "market_sso=-"}  # silent sign-on done
        for path, status in (("/no/such/page", 404), ("/products?page=0", 404)):
            resp = await client.get(live.url("market") + path, headers=checked)
            assert resp.status_code == status, path
            assert nav_labels(resp.text) == ["Home", "Market", "Events", "Community"], path
            assert cart_count(resp.text) == 0, path
            assert "Sign in" in slot(resp.text, "account"), path
        # Machines asking for JSON, and probes of /internal/, get no header.
        resp = await client.get(
            live.url("market") + "/no/such/page", headers={"Accept": "application/json"}
        )
        assert resp.json()["error"]["code"] == "not_found"
        resp = await client.get(live.url("market") + "/internal/fragments/nope", headers=BROWSER)
        assert resp.status_code == 404
        assert 'class="slot slot-nav"></div>' in resp.text
