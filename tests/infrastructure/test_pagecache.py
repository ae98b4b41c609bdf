"""The anonymous full-page cache: hits in one Redis call, ETag/304, and never a stale or
somebody else's page — invalidated by the writes of requests and of the worker, by fragment
changes, bypassed for anyone with an identity, and harmless when Redis is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from quart import Response, make_response
from quart.typing import TestClientProtocol as Client
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure import internal_auth, pagecache
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.fragments import invalidate
from shared.infrastructure.oauth import marker_cookie_name
from shared.models import BlogPost, Product
from tests.blog import factories
from tests.identity.factories import client_signed_in, make_member
from tests.support import BROWSER_ACCEPT, csrf_in, refusing_port
from tests.support.settings import AppMaker, make_settings

BROWSER = {"Accept": BROWSER_ACCEPT, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
BOOSTED = {"Accept": BROWSER_ACCEPT, "HX-Request": "true", "HX-Boosted": "true"}


@pytest.fixture
async def app(make_app: AppMaker, database_url: str, redis_url: str) -> RoseQuart:
    settings = make_settings(database_url, redis_url, ROSE_PAGECACHE__ENABLED="true")
    return await make_app("blog", app_settings=settings)


@pytest.fixture
async def worker_redis(redis: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    """What `rose-ash worker` does: its commits outdate pages through this client."""
    pagecache.use_redis(redis)
    yield redis
    await pagecache.flush_pending()
    pagecache.use_redis(None)


def anonymous(app: RoseQuart) -> Client:
    client = app.test_client()
    client.cookie_jar = None  # type: ignore[assignment]  # a visitor with no cookies at all
    return client


async def get(client: Client, path: str = "/", **headers: str) -> tuple[Response, str]:
    resp = await client.get(path, headers=headers)
    return resp, await resp.get_data(as_text=True)


async def test_a_second_anonymous_visit_is_a_hit_with_an_etag_and_a_304(
    app: RoseQuart, db: AsyncSession
) -> None:
    await factories.post(db, "Bread week")
    await db.commit()
    client = anonymous(app)
    first, html = await get(client)
    assert first.status_code == 200
    assert "x-rose-cache" not in first.headers
    assert "Bread week" in html
    etag = first.headers["ETag"]
    second, again = await get(client)
    assert second.headers["x-rose-cache"] == "hit"
    assert again == html
    assert second.headers["ETag"] == etag
    assert second.headers["Content-Type"].startswith("text/html")
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert "x-rose-page-deps" not in second.headers
    assert "x-rose-page-deps" not in first.headers
    not_modified = await client.get("/", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert await not_modified.get_data() == b""
    # Other pages and a boosted (partial) load are cached apart.
    partial, fragment_html = await get(client, "/", **{"HX-Request": "true"})
    assert "x-rose-cache" not in partial.headers
    assert "<!doctype html>" not in fragment_html
    assert "<!doctype html>" in (await get(client))[1]


async def test_an_editors_request_outdates_the_page_before_it_answers(
    app: RoseQuart, db: AsyncSession
) -> None:
    post = await factories.post(db, "Old title")
    account = await make_member(db, "eddie", roles=("editor",))
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    visitor = anonymous(app)
    await get(visitor, f"/posts/{post.slug}")
    assert (await get(visitor, f"/posts/{post.slug}"))[0].headers["x-rose-cache"] == "hit"

    editor = await client_signed_in(app, account.id, sign_in.sid)
    token = csrf_in((await get(editor, f"/editor/posts/{post.id}", Accept=BROWSER_ACCEPT))[1])
    resp = await editor.post(
        f"/editor/posts/{post.id}",
        form={
            "csrf_token": token,
            "kind": "post",
            "visibility": "public",
            "title": "New title",
            "html": "<p>Changed</p>",
            "slug": post.slug,
        },
    )
    assert resp.status_code == 302
    page, html = await get(visitor, f"/posts/{post.slug}")
    assert "x-rose-cache" not in page.headers
    assert "New title" in html
    assert "Changed" in html


async def test_the_workers_commits_outdate_pages_too(
    app: RoseQuart, db: AsyncSession, worker_redis: aioredis.Redis
) -> None:
    await factories.post(db, "First")
    await db.commit()
    await pagecache.flush_pending()
    visitor = anonymous(app)
    await get(visitor)
    assert (await get(visitor))[0].headers["x-rose-cache"] == "hit"
    await factories.post(db, "Published by the worker")
    await db.commit()
    await pagecache.flush_pending()
    page, html = await get(visitor)
    assert "x-rose-cache" not in page.headers
    assert "Published by the worker" in html


async def test_bulk_orm_statements_are_attributed_to_their_domain(
    app: RoseQuart, db: AsyncSession, worker_redis: aioredis.Redis
) -> None:
    post = await factories.post(db, "Before")
    await db.commit()
    await pagecache.flush_pending()
    blog_before = int(await worker_redis.get(pagecache.version_key("blog")) or 0)
    await db.execute(update(BlogPost).where(BlogPost.id == post.id).values(title="After"))
    await db.commit()
    await pagecache.flush_pending()
    assert int(await worker_redis.get(pagecache.version_key("blog")) or 0) == blog_before + 1
    market_before = int(await worker_redis.get(pagecache.version_key("market")) or 0)
    product = Product(slug="loaf", title="Loaf", price_minor=300, stock=5)
    db.add(product)
    await db.commit()
    await db.execute(update(Product).where(Product.id == product.id).values(stock=4))
    await db.commit()
    await pagecache.flush_pending()
    market_after = int(await worker_redis.get(pagecache.version_key("market")) or 0)
    assert market_after == market_before + 2
    # Statements that change nothing outdate nothing (the worker runs some every cycle).
    await db.execute(update(BlogPost).where(BlogPost.id == -1).values(title="Nobody"))
    await db.scalars(
        update(BlogPost).where(BlogPost.id == -1).values(title="x").returning(BlogPost.id)
    )
    await services().blog.publish_due_scheduled(db)
    await db.commit()
    await pagecache.flush_pending()
    assert int(await worker_redis.get(pagecache.version_key("blog")) or 0) == blog_before + 1
    # A rolled-back write outdates nothing.
    await db.execute(update(BlogPost).where(BlogPost.id == post.id).values(title="Never"))
    await db.rollback()
    await pagecache.flush_pending()
    assert int(await worker_redis.get(pagecache.version_key("blog")) or 0) == blog_before + 1


async def test_a_changed_fragment_outdates_the_pages_that_show_it(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    await factories.post(db)
    await db.commit()
    visitor = anonymous(app)
    await get(visitor)
    assert (await get(visitor))[0].headers["x-rose-cache"] == "hit"
    await invalidate(redis, "blog/nav", keep_s=60)
    assert "x-rose-cache" not in (await get(visitor))[0].headers


async def test_anyone_with_an_identity_is_never_served_nor_stored(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    await factories.post(db)
    account = await make_member(db, "mira")
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    member = await client_signed_in(app, account.id, sign_in.sid)
    for _ in range(2):
        page, _ = await get(member)
        assert page.status_code == 200
        assert "x-rose-cache" not in page.headers
    assert await redis.keys(f"{pagecache.ENTRY_PREFIX}*") == []
    visitor = anonymous(app)
    await get(visitor)
    for headers in (
        {"Cookie": "blog_session=anything"},
        {"Cookie": "somebody=1"},
        {"Authorization": "Bearer x"},
        {"Accept": "application/activity+json"},
        {"Cookie": "not a cookie;;=="},
    ):
        assert "x-rose-cache" not in (await get(visitor, "/", **headers))[0].headers, headers
    # The sign-on marker alone is anonymous.
    marker = marker_cookie_name(app.extensions["rose"].settings, "blog")
    hit = await get(visitor, "/", Cookie=f"{marker}=1")
    assert hit[0].headers["x-rose-cache"] == "hit"


async def test_internal_requests_between_the_apps_never_reach_the_cache(app: RoseQuart) -> None:
    """A fragment fetch is signed; it is no page: never looked up (no Redis call, and no wait
    behind a "render" of the same URL for another visitor), never stored."""
    secret = app.extensions["rose"].settings.secrets.internal_secret
    query, headers = internal_auth.sign(secret, "GET", "/internal/fragments/nav", ())
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/internal/fragments/nav",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    cache = app.page_cache
    assert cache is not None
    assert cache.key_for(scope) is None
    assert cache.key_for({**scope, "headers": []}) is not None  # unsigned, it would be looked up


# Each value htmx sends, and values it never sends (which mean what no header means).
BOOST_VALUES = (None, "true", "false", "", "TRUE", "1")


async def test_every_boost_header_combination_is_cached_as_what_it_renders(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    """The cache's idea of a partial request is the renderer's: no combination of the two
    headers stores a partial page where a whole one is looked up, or the other way round."""
    await factories.post(db, "Bread week")
    await db.commit()
    visitor = anonymous(app)
    for hx in BOOST_VALUES:
        for restore in BOOST_VALUES:
            combination = {
                name: value
                for name, value in (("HX-Request", hx), ("HX-History-Restore-Request", restore))
                if value is not None
            }
            for key in await redis.keys(f"{pagecache.ENTRY_PREFIX}*"):
                await redis.delete(key)
            partial = hx == "true" and restore != "true"
            for _ in range(2):  # rendered and stored, then served from the cache
                page, html = await get(visitor, "/", **combination)
                assert page.status_code == 200, combination
                assert html.startswith("<!doctype html>") is not partial, combination
                assert "Bread week" in html
            assert page.headers["x-rose-cache"] == "hit", combination
            # The next cookie-less visitor still gets the whole page.
            page, html = await get(visitor, "/")
            assert html.startswith("<!doctype html>"), combination
            assert '<header class="site-header">' in html, combination
    # A repeated boost header is not cached at all: which copy the app reads is its business.
    repeated = await visitor.get(
        "/",
        headers=[("HX-Request", "true"), ("HX-Request", "false")],  # type: ignore[arg-type]
    )
    assert repeated.status_code == 200
    assert "x-rose-cache" not in repeated.headers


async def test_a_browsers_first_visit_still_gets_silent_sign_on(app: RoseQuart) -> None:
    visitor = anonymous(app)
    await get(visitor)  # cached by a non-browser
    # A browser signed in at federation (its sign-in generation) passes through to the check.
    first = await visitor.get("/", headers={**BROWSER, "Cookie": "rose_signin=g1"})
    assert first.status_code == 302  # to federation, prompt=none
    marker = marker_cookie_name(app.extensions["rose"].settings, "blog")
    cookies = f"{marker}=g1; rose_signin=g1"
    back = await visitor.get("/", headers={**BROWSER, "Cookie": cookies})
    assert back.headers["x-rose-cache"] == "hit"
    # One that never signed in has nothing to check (decision 0113): served from the cache.
    new = await visitor.get("/", headers=BROWSER)
    assert new.headers["x-rose-cache"] == "hit"


async def test_responses_that_set_cookies_or_are_private_are_not_stored(
    make_app: AppMaker, database_url: str, redis_url: str, redis: aioredis.Redis
) -> None:
    settings = make_settings(database_url, redis_url, ROSE_PAGECACHE__ENABLED="true")
    app = await make_app("market", app_settings=settings)

    @app.get("/test/cookie")
    @pagecache.cacheable_page("market")
    async def sets_cookie() -> Response:
        resp = await make_response("<p>hello</p>")
        resp.set_cookie("x", "1")
        return resp

    @app.get("/test/private")
    @pagecache.cacheable_page("market")
    async def private() -> Response:
        resp = await make_response("<p>mine</p>")
        resp.headers["Cache-Control"] = "private"
        return resp

    @app.get("/test/missing")
    @pagecache.cacheable_page("market")
    async def missing() -> Response:
        return await make_response("<p>gone</p>", 404)

    @app.get("/test/plain")
    async def not_opted_in() -> str:
        return "<p>plain</p>"

    visitor = anonymous(app)
    for path in ("/test/cookie", "/test/private", "/test/missing", "/test/plain"):
        for _ in range(2):
            assert "x-rose-cache" not in (await get(visitor, path))[0].headers, path
    assert await redis.keys(f"{pagecache.ENTRY_PREFIX}*") == []


async def test_pages_render_when_the_cache_is_unreachable(
    make_app: AppMaker, database_url: str, db: AsyncSession
) -> None:
    await factories.post(db, "Still here")
    await db.commit()
    settings = make_settings(
        database_url, f"redis://127.0.0.1:{refusing_port()}/0", ROSE_PAGECACHE__ENABLED="true"
    )
    app = await make_app("blog", app_settings=settings)
    for _ in range(2):
        page, html = await get(anonymous(app))
        assert page.status_code == 200
        assert "Still here" in html


async def test_visitors_missing_a_page_being_rendered_wait_for_that_one_render(
    app: RoseQuart, db: AsyncSession
) -> None:
    import asyncio

    await factories.post(db, "Stampede soup")
    await db.commit()
    answers = await asyncio.gather(*(get(anonymous(app)) for _ in range(8)))
    assert all(resp.status_code == 200 for resp, _ in answers)
    assert all("Stampede soup" in html for _, html in answers)
    rendered = [resp for resp, _ in answers if "x-rose-cache" not in resp.headers]
    assert len(rendered) == 1, "one render; the others waited for it and were served its copy"


async def session_cookie(app: RoseQuart, **data: object) -> str:
    """The ``Cookie`` header of a browser whose session at ``app`` holds ``data``."""
    client = app.test_client()
    async with client.session_transaction() as session:
        session.update(data)
    cookie = next(c for c in client.cookie_jar if c.name == "blog_session")  # type: ignore[union-attr]
    return f"blog_session={cookie.value}"


async def test_harmless_cookies_are_served_from_the_cache_and_identities_never(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    """Decision 0091: what a cookie says decides, not that there is one."""
    await factories.post(db, "Marrow")
    account = await make_member(db, "holm")
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    visitor = anonymous(app)
    await get(visitor)  # stored
    marker = marker_cookie_name(app.extensions["rose"].settings, "blog")
    sign_on_only = await session_cookie(app, _oauth={"s1": {"t": 1}})
    with_token = await session_cookie(app, _oauth={}, _csrf="a-token")
    member = await session_cookie(app, _auth={"uid": account.id, "sid": sign_in.sid})
    tampered = member.replace("blog_session=", "blog_session=x")
    for cookie in (
        f"{marker}=-; rose_signin=-",
        f"{marker}=g1; rose_signin=g1",
        f"{sign_on_only}; {marker}=-",
        f"{with_token}; rose_signin=-",
        # The other apps' sessions and markers reach every app on one host; never read here.
        f"market_session=whatever; market_sso=-; federation_session=x; {marker}=-",
    ):
        page, _html = await get(visitor, "/", **BROWSER, Cookie=cookie)
        assert page.headers.get("x-rose-cache") == "hit", cookie
    for cookie in (
        member,
        tampered,
        f"{member}; {marker}=-",
        f"{sign_on_only}; {member}",  # a name twice: which one the app reads is its business
        f"{marker}=-; {marker}=g1",
        f"{marker}=-; rose_signin=-; other=1",
    ):
        page, _ = await get(visitor, "/", Cookie=cookie)
        assert "x-rose-cache" not in page.headers, cookie
    # A check is due (someone signed in at federation since this app asked): not served.
    page, _ = await get(visitor, "/", **BROWSER, Cookie=f"{marker}=-; rose_signin=g2")
    assert page.status_code == 302
    page, _ = await get(visitor, "/", **BOOSTED, Cookie=f"{marker}=-; rose_signin=g2")
    assert "x-rose-cache" not in page.headers
    assert "/oauth/authorize?" in page.headers["HX-Redirect"]


async def test_what_a_visitor_with_a_session_is_rendered_is_never_stored(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    """Served from the cache, but a render for a session may show its CSRF token without
    setting a cookie: only requests without one store what they render."""
    await factories.post(db, "Quince")
    await db.commit()
    with_token = await session_cookie(app, _csrf="a-token")
    visitor = anonymous(app)
    for _ in range(2):
        page, _ = await get(visitor, "/", Cookie=with_token)
        assert "x-rose-cache" not in page.headers
    assert await redis.keys(f"{pagecache.ENTRY_PREFIX}*") == []
    await get(visitor)
    assert (await get(visitor, "/", Cookie=with_token))[0].headers["x-rose-cache"] == "hit"


async def test_a_cart_is_its_own_audience_with_its_count_left_to_the_browser(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    await factories.post(db, "Medlar")
    await db.commit()
    visitor = anonymous(app)
    plain, plain_html = await get(visitor)
    cart = "rose_cart=0123456789abcdef0123.forged"
    first, html = await get(visitor, "/", Cookie=cart)
    assert "x-rose-cache" not in first.headers  # its own copy, rendered once
    again, same = await get(visitor, "/", Cookie=cart)
    assert again.headers["x-rose-cache"] == "hit"
    assert same == html != plain_html
    assert again.headers["ETag"] != plain.headers["ETag"]
    assert 'hx-get="/cart-mini"' in html
    assert "data-count" not in html
    assert '<div class="slot slot-cart">' in plain_html  # the cart app's count (not served here)
    assert "/cart-mini" not in plain_html
    # A boosted navigation's partial page has no header: one copy for both audiences.
    await get(visitor, "/", **{"HX-Request": "true"})
    partial, _ = await get(visitor, "/", Cookie=cart, **{"HX-Request": "true"})
    assert partial.headers["x-rose-cache"] == "hit"
    # The placeholder's source: the visitor's own mini cart, never stored.
    mini, body = await get(visitor, "/cart-mini", Cookie=cart, **{"HX-Request": "true"})
    assert mini.status_code == 200
    assert body.startswith('<div class="slot slot-cart">')
    assert "no-store" in mini.headers["Cache-Control"]
    assert len(await redis.keys(f"{pagecache.ENTRY_PREFIX}*")) == 3
